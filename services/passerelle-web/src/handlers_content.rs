//! The routes of a referral's thread and files: messages (JSON) and attachments (raw
//! bodies, streamed both ways through core; never buffered whole here).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use futures::TryStreamExt;
use passerelle_core::{AttachmentUpload, NewMessage};
use passerelle_domain::enums::DataCategory;
use passerelle_domain::ids::{AttachmentId, ReferralId};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::extract::{Caller, Json};
use crate::handlers::{json, parse_id};
use crate::problem::{ApiResult, Problem};
use crate::{AppState, Routes};

/// Header carrying the attachment's file name, percent-encoded UTF-8.
pub const FILENAME_HEADER: &str = "x-filename";
/// Header carrying the attachment's data category (default `narrative`).
pub const CATEGORY_HEADER: &str = "x-data-category";

/// How much of a refused upload's body is still read (and discarded) so that the client,
/// still sending, receives the answer instead of a reset; beyond, the stream is reset.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
/// How long a refused upload's body is drained at most.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(20);

/// Registers the messages and attachments routes.
pub fn register(r: Routes) -> Routes {
    r.add(
        &[Method::GET, Method::POST],
        "/api/v1/referrals/{id}/messages",
        get(read_messages).post(write_message),
    )
    .add(
        &[Method::POST],
        "/api/v1/referrals/{id}/attachments",
        post(upload_attachment),
    )
    .add(
        &[Method::GET],
        "/api/v1/referrals/{id}/attachments/{aid}",
        get(read_attachment),
    )
}

async fn write_message(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<NewMessage>,
) -> ApiResult<Response> {
    let id: ReferralId = parse_id(&id)?;
    let m = s
        .core
        .write_message(&caller.principal, id, req, &caller.ctx)
        .await?;
    Ok(json(StatusCode::CREATED, &m))
}

async fn read_messages(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: ReferralId = parse_id(&id)?;
    let list = s
        .core
        .read_messages(&caller.principal, id, &caller.ctx)
        .await?;
    Ok(json(StatusCode::OK, &list))
}

/// The upload's description from its headers; errors name the header, never its value.
fn upload_of(headers: &HeaderMap) -> ApiResult<AttachmentUpload> {
    let raw = headers
        .get(FILENAME_HEADER)
        .ok_or_else(|| Problem::bad_request("Send the file name in the X-Filename header."))?;
    let filename = raw
        .to_str()
        .ok()
        .and_then(|v| percent_decode_str(v).decode_utf8().ok())
        .map(|v| v.into_owned())
        .ok_or_else(|| Problem::bad_request("X-Filename must be percent-encoded UTF-8."))?;
    let category = match headers.get(CATEGORY_HEADER) {
        None => DataCategory::Narrative,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| Problem::bad_request("X-Data-Category is not a data category."))?,
    };
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    Ok(AttachmentUpload {
        filename,
        category,
        declared_len,
    })
}

async fn upload_attachment(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let id: ReferralId = parse_id(&id)?;
    let req = upload_of(&headers)?;
    // Not limited by the JSON body limit: core counts the bytes against the attachment
    // limit as they arrive.
    let mut stream = body.into_data_stream().map_err(std::io::Error::other);
    match s
        .core
        .upload_attachment(&caller.principal, id, req, &mut stream, &caller.ctx)
        .await
    {
        Ok(info) => Ok(json(StatusCode::CREATED, &info)),
        Err(e) => {
            drain(&mut stream).await;
            Err(e.into())
        }
    }
}

/// Reads and discards what is left of a refused upload's body, within bounds (clients
/// that are still sending otherwise see a reset instead of the problem).
async fn drain<S>(stream: &mut S)
where
    S: futures::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Unpin,
{
    use futures::StreamExt;
    let mut drained = 0u64;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(piece)) = stream.next().await {
            drained += piece.len() as u64;
            if drained > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

async fn read_attachment(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, aid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id: ReferralId = parse_id(&id)?;
    let aid: AttachmentId = parse_id(&aid)?;
    let dl = s
        .core
        .read_attachment(&caller.principal, id, aid, &caller.ctx)
        .await?;
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        utf8_percent_encode(&dl.info.filename, NON_ALPHANUMERIC)
    );
    let mut res = Response::new(Body::from_stream(dl.body));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(dl.info.size));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
