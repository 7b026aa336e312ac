//! Client certificates (mTLS) for machine clients.
//!
//! When the operator configures a client CA (`PASSERELLE_CLIENT_CA`), TLS asks every
//! client for a certificate and verifies any it gets against that CA (clients without one,
//! browsers and token holders, still connect). The binary puts the verified end-entity
//! certificate in the request's extensions as [`ClientCertificate`]; a request **without**
//! an `Authorization` header is then authenticated by it: the certificate's subject must
//! carry `CN=<username>` and `O=<organisation slug>`, naming an enabled user of that
//! organisation (see `Core::authenticate_client_certificate`). The machine client acts
//! with that user's role, exactly like a token would; disabling the user cuts it off on
//! the next request, whatever the certificate's expiry. A bearer token, when sent, wins.

use std::sync::Arc;

use passerelle_core::Principal;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::AppState;
use crate::problem::Problem;

/// The DER bytes of the client's end-entity certificate, already verified by TLS.
#[derive(Debug, Clone)]
pub struct ClientCertificate(pub Arc<Vec<u8>>);

/// The `(CN, O)` of a certificate's subject; `None` when either is missing, repeated or
/// not UTF-8.
pub fn subject_identity(der: &[u8]) -> Option<(String, String)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let subject = cert.subject();
    let mut cns = subject.iter_common_name();
    let cn = cns.next()?.as_str().ok()?.to_owned();
    if cns.next().is_some() {
        return None;
    }
    let mut os = subject.iter_organization();
    let o = os.next()?.as_str().ok()?.to_owned();
    if os.next().is_some() {
        return None;
    }
    Some((cn, o))
}

/// Authenticates the holder of `cert`.
pub async fn authenticate(
    cert: &ClientCertificate,
    state: &AppState,
    ctx: &passerelle_core::RequestCtx,
) -> Result<Principal, Problem> {
    let (cn, o) = subject_identity(&cert.0).unwrap_or_default();
    Ok(state
        .core
        .authenticate_client_certificate(&cn, &o, ctx)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with(subject: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in subject {
            params.distinguished_name.push(t.clone(), *v);
        }
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn subject_names_user_and_organisation() {
        let der = cert_with(&[
            (rcgen::DnType::CommonName, "sync.chu"),
            (rcgen::DnType::OrganizationName, "chu-urgences"),
        ]);
        assert_eq!(
            subject_identity(&der),
            Some(("sync.chu".into(), "chu-urgences".into()))
        );
    }

    #[test]
    fn incomplete_subjects_name_nobody() {
        let no_org = cert_with(&[(rcgen::DnType::CommonName, "sync.chu")]);
        assert_eq!(subject_identity(&no_org), None);
        let no_cn = cert_with(&[(rcgen::DnType::OrganizationName, "chu-urgences")]);
        assert_eq!(subject_identity(&no_cn), None);
        assert_eq!(subject_identity(b"not a certificate"), None);
    }
}
