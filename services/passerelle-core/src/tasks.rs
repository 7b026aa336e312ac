//! Tasks of a referral: the "inform the victim" task that every 226-14 3° report opens
//! (Code pénal art. 226-14 3°: the health professional must tell the victim of the report).
//! It is closed by the filing organisation, only with the date it was done and the channel
//! used; a 226-14 3° case has no consent to withdraw, so a withdrawal never touches it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use passerelle_domain::audit::{Action, Targets};
use passerelle_domain::enums::{ConsentBasis, SafetyChannel};
use passerelle_domain::ids::{ReferralId, TaskId};
use passerelle_domain::policy::Route;
use passerelle_store::{ReferralRow, StoreTx, TaskClosing, TaskRow};

use crate::auth::Principal;
use crate::journal::Entry;
use crate::referrals::{micros, new_id};
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// The kind of the task a 226-14 3° report opens.
pub const INFORM_VICTIM: &str = "inform_victim";

/// `POST /api/v1/referrals/{id}/tasks/{task_id}/close`: both fields are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseTaskRequest {
    /// When it was done (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub done_at: OffsetDateTime,
    /// Through which channel the victim was informed.
    pub channel: SafetyChannel,
}

/// A task as the referral view and the close route show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskView {
    /// Id.
    pub id: TaskId,
    /// What to do: `inform_victim`.
    pub kind: String,
    /// `open` or `done`.
    pub status: &'static str,
    /// When it was opened.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was done.
    #[serde(with = "time::serde::rfc3339::option")]
    pub done_at: Option<OffsetDateTime>,
    /// Through which channel.
    pub channel: Option<SafetyChannel>,
}

impl From<&TaskRow> for TaskView {
    fn from(t: &TaskRow) -> Self {
        TaskView {
            id: t.id,
            kind: t.kind.clone(),
            status: if t.closed_at.is_some() {
                "done"
            } else {
                "open"
            },
            created_at: t.created_at,
            done_at: t.done_at,
            channel: t.channel,
        }
    }
}

impl Core {
    /// Opens the tasks a new packet needs, inside its filing transaction: a 226-14 3°
    /// report gets its "inform the victim" task.
    pub(crate) async fn open_tasks(
        &self,
        tx: &mut dyn StoreTx,
        row: &ReferralRow,
    ) -> CoreResult<()> {
        if row.basis == ConsentBasis::LegalException22614 {
            let task = TaskRow {
                id: TaskId(new_id()),
                referral_id: row.id,
                kind: INFORM_VICTIM.into(),
                created_at: row.created_at,
                done_at: None,
                channel: None,
                closed_by: None,
                closed_at: None,
            };
            tx.insert_task(&task).await?;
        }
        Ok(())
    }

    /// The tasks of a referral, for its view.
    pub(crate) async fn task_views(&self, id: ReferralId) -> CoreResult<Vec<serde_json::Value>> {
        let tasks = self.store().tasks_of(id).await?;
        tasks
            .iter()
            .map(|t| {
                serde_json::to_value(TaskView::from(t))
                    .map_err(|e| CoreError::Internal(e.to_string()))
            })
            .collect()
    }

    /// Closes a task (filing organisation) with the date it was done and the channel; a
    /// date in the future or before the filing is refused (422), a closed task is a
    /// conflict (409).
    pub async fn close_task(
        &self,
        p: &Principal,
        id: ReferralId,
        task_id: TaskId,
        req: CloseTaskRequest,
        ctx: &RequestCtx,
    ) -> CoreResult<TaskView> {
        let row = self.load_for(p, id, Route::CloseTask, ctx).await?;
        let task = match self.store().task(task_id).await? {
            Some(t) if t.referral_id == row.id => t,
            _ => return Err(CoreError::NotFound),
        };
        if task.closed_at.is_some() {
            return Err(CoreError::Conflict("the task is already closed"));
        }
        let now = micros(self.now());
        if req.done_at > now || req.done_at < row.created_at {
            return Err(CoreError::Unprocessable {
                code: "task-done-at",
                detail: "done_at must be between the filing and now.",
            });
        }
        let closing = TaskClosing {
            done_at: micros(req.done_at),
            channel: req.channel,
            closed_by: p.user_id,
            closed_at: now,
        };
        let mut tx = self.store().begin().await?;
        if !tx.close_task(task.id, &closing).await? {
            return Err(CoreError::Conflict("the task is already closed"));
        }
        let entry = Entry::by(
            p,
            Action::TaskClosed,
            Targets {
                referral: Some(row.id),
                case: Some(row.case_id),
                task: Some(task.id),
                ..Targets::default()
            },
        )
        .basis(row.basis);
        self.commit_with(tx, entry, ctx).await?;
        let closed = TaskRow {
            done_at: Some(closing.done_at),
            channel: Some(closing.channel),
            closed_by: Some(closing.closed_by),
            closed_at: Some(closing.closed_at),
            ..task
        };
        Ok(TaskView::from(&closed))
    }
}
