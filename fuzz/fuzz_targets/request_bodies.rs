//! Every JSON body and query string the API deserialises from a client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passerelle_core::{
    ArchiveReadRequest, AuditQuery, CloseRequest, CloseTaskRequest, DeclineRequest, ListParams,
    NewMessage, NotificationParams, WithdrawRequest,
};
use passerelle_domain::model::FilingRequest;
use passerelle_domain::rules::ForwardRequest;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<FilingRequest>(data);
    let _ = serde_json::from_slice::<ForwardRequest>(data);
    let _ = serde_json::from_slice::<DeclineRequest>(data);
    let _ = serde_json::from_slice::<CloseRequest>(data);
    let _ = serde_json::from_slice::<CloseTaskRequest>(data);
    let _ = serde_json::from_slice::<WithdrawRequest>(data);
    let _ = serde_json::from_slice::<ArchiveReadRequest>(data);
    let _ = serde_json::from_slice::<NewMessage>(data);
    let _ = serde_urlencoded::from_bytes::<ListParams>(data);
    let _ = serde_urlencoded::from_bytes::<AuditQuery>(data);
    let _ = serde_urlencoded::from_bytes::<NotificationParams>(data);
});
