//! TLS as an operator meets it, on the real binary: a certificate replaced and SIGHUP sent
//! → new connections get the new certificate while an open connection goes on; a broken
//! pair is refused and the previous one stays; client certificates (mTLS) authenticate
//! machine clients mapped to a user of an organisation; plain HTTP only behind an explicit
//! `--behind-proxy`. (TLS touches no storage: SQLite is enough here.)

use std::path::Path;
use std::time::Duration;

use passerelle_e2e::{Backend, Deployment, ServeOptions, client};

const WAIT: Duration = Duration::from_secs(30);

/// A self-signed certificate for 127.0.0.1: (certificate PEM, key PEM).
fn self_signed() -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    (c.cert.pem(), c.signing_key.serialize_pem())
}

/// Replaces a file at once (write aside, rename), like an ACME client does.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

fn opts(cert: &Path, key: &Path, trust: &str) -> ServeOptions {
    ServeOptions {
        env: vec![
            ("PASSERELLE_TLS_CERT".into(), cert.display().to_string()),
            ("PASSERELLE_TLS_KEY".into(), key.display().to_string()),
        ],
        trust_pem: Some(trust.as_bytes().to_vec()),
        ..ServeOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_certificate_without_dropping_connections() {
    let d = Deployment::new(Backend::Sqlite);
    d.ok(&["init"]);
    let dir = d.dir.path().join("pki");
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert1, key1) = self_signed();
    let (cert2, key2) = self_signed();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    replace(&cert, &cert1);
    replace(&key, &key1);

    let server = d.serve_opts(opts(&cert, &key, &cert1));
    let url = format!("{}/healthz", server.base);
    // One client, one connection, opened on the first certificate.
    let open = &server.client;
    assert_eq!(open.get(&url).send().await.expect("first").status(), 200);

    replace(&cert, &cert2);
    replace(&key, &key2);
    server.signal("HUP");
    assert!(
        server.wait_log("TLS certificate and key reloaded", 1, WAIT),
        "no reload in the log"
    );

    // The open connection survives: a new one would meet the new certificate, which this
    // client does not trust, and fail.
    for _ in 0..3 {
        let r = open
            .get(&url)
            .send()
            .await
            .expect("open connection still served");
        assert_eq!(r.status(), 200);
    }
    // New connections get the new certificate.
    let trusts_old = client(cert1.as_bytes(), None);
    assert!(
        trusts_old.get(&url).send().await.is_err(),
        "a new connection was still given the old certificate"
    );
    let trusts_new = client(cert2.as_bytes(), None);
    assert_eq!(
        trusts_new.get(&url).send().await.expect("new").status(),
        200
    );

    // A broken key is refused; the certificate in service stays.
    replace(
        &key,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    );
    server.signal("HUP");
    assert!(server.wait_log("TLS reload failed", 1, WAIT));
    let fresh = client(cert2.as_bytes(), None);
    assert_eq!(fresh.get(&url).send().await.expect("still").status(), 200);

    let status = server.stop();
    assert!(status.success(), "clean exit after reloads: {status:?}");
}

/// A CA and what it signs.
struct Pki {
    ca_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = params.self_signed(&key).expect("CA");
        Pki {
            ca_pem: ca.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A client identity (certificate + key PEM) for `CN=cn, O=org`.
    fn client(&self, cn: &str, org: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, org);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        format!("{}{}", cert.pem(), key.serialize_pem()).into_bytes()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificates_authenticate_machine_clients() {
    let d = Deployment::new(Backend::Sqlite);
    d.ok(&["init"]);
    d.ok(&[
        "org",
        "add",
        "chu-urgences",
        "--name",
        "CHU",
        "--kind",
        "hospital",
    ]);
    d.ok(&[
        "org",
        "add",
        "avec63",
        "--name",
        "AVEC 63",
        "--kind",
        "association",
    ]);
    d.ok(&[
        "user",
        "add",
        "sync.chu",
        "--org",
        "chu-urgences",
        "--role",
        "referrer",
    ]);
    d.ok(&[
        "user",
        "add",
        "psy.bernard",
        "--org",
        "avec63",
        "--role",
        "receiver",
    ]);
    let token = d.token("psy.bernard");
    let pki = Pki::new("Passerelle machine clients");
    let ca_path = d.dir.path().join("clients-ca.pem");
    std::fs::write(&ca_path, &pki.ca_pem).expect("write CA");

    let server = d.serve_opts(ServeOptions {
        env: vec![("PASSERELLE_CLIENT_CA".into(), ca_path.display().to_string())],
        ..ServeOptions::default()
    });
    let trust = std::fs::read(d.data_dir().join("tls/cert.pem")).expect("server cert");
    let url = format!("{}/api/v1/referrals?box=sent", server.base);

    // The machine client: CN = username, O = its organisation.
    let machine = client(&trust, Some(&pki.client("sync.chu", "chu-urgences")));
    let r = machine.get(&url).send().await.expect("mTLS request");
    assert_eq!(r.status(), 200);

    // A certificate naming the user with another organisation: 401.
    let lying = client(&trust, Some(&pki.client("sync.chu", "avec63")));
    assert_eq!(lying.get(&url).send().await.expect("sent").status(), 401);
    // Naming nobody: 401.
    let nobody = client(&trust, Some(&pki.client("ghost", "chu-urgences")));
    assert_eq!(nobody.get(&url).send().await.expect("sent").status(), 401);
    // Signed by another CA: the handshake is refused.
    let other = Pki::new("Someone else");
    let foreign = client(&trust, Some(&other.client("sync.chu", "chu-urgences")));
    assert!(foreign.get(&url).send().await.is_err());
    // No certificate: tokens work as before, nothing else does.
    assert_eq!(
        server.client.get(&url).send().await.expect("sent").status(),
        401
    );
    let with_token = server
        .client
        .get(format!("{}/api/v1/referrals?box=inbox", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(with_token.status(), 200);

    // A disabled or removed certificate is not needed to cut a machine off: the failures
    // above each left an auth.failed leaf; the audit log holds no certificate bytes.
    let log = server.log();
    assert!(!passerelle_e2e::contains(&log, "BEGIN CERTIFICATE"));
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_only_behind_an_explicit_proxy_setting() {
    let d = Deployment::new(Backend::Sqlite);
    d.ok(&["init"]);
    let server = d.serve_opts(ServeOptions {
        args: vec!["--behind-proxy".into()],
        env: vec![("PASSERELLE_TRUSTED_PROXIES".into(), "127.0.0.1".into())],
        ..ServeOptions::default()
    });
    assert!(server.base.starts_with("http://"), "{}", server.base);
    let r = server
        .client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("plain HTTP");
    assert_eq!(r.status(), 200);
    // Security headers, HSTS included (the proxy serves HTTPS to clients).
    assert!(r.headers().get("strict-transport-security").is_some());
    assert!(r.headers().get("content-security-policy").is_some());
    // Behind a proxy /metrics is closed by default, forwarded address or not.
    let m = server
        .client
        .get(format!("{}/metrics", server.base))
        .header("x-forwarded-for", "127.0.0.1")
        .send()
        .await
        .expect("sent");
    assert_eq!(m.status(), 403);
    // SIGHUP does not end a proxied instance.
    server.signal("HUP");
    assert!(server.wait_log("nothing to reload", 1, WAIT));
    assert_eq!(
        server
            .client
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .expect("alive")
            .status(),
        200
    );
    assert!(server.stop().success());

    // Without the setting the same data dir serves HTTPS only.
    let tls = d.serve();
    assert!(tls.base.starts_with("https://"));
    let plain = reqwest::Client::new()
        .get(tls.base.replace("https://", "http://") + "/healthz")
        .send()
        .await;
    assert!(
        plain.map(|r| r.status() != 200).unwrap_or(true),
        "plain HTTP answered on a TLS listener"
    );
}

/// What `openssl s_client` reports for one protocol version (`tls1`, `tls1_1`, …).
fn handshake(addr: &str, version: &str) -> String {
    let mut child = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            addr,
            &format!("-{version}"),
            // Let the client offer old protocols at all: the refusal must be the server's.
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl runs (Debian package openssl)");
    let _ = child.stdin.take();
    let out = child.wait_with_output().expect("openssl exits");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn only_tls_1_2_and_1_3_are_spoken() {
    let d = Deployment::new(Backend::Sqlite);
    d.ok(&["init"]);
    let server = d.serve();
    let addr = server.base.trim_start_matches("https://").to_owned();
    for old in ["tls1", "tls1_1"] {
        let out = handshake(&addr, old);
        assert!(
            out.contains("alert") && out.contains("Cipher is (NONE)"),
            "{old} was not refused by the server:\n{out}"
        );
    }
    for (version, name) in [("tls1_2", "TLSv1.2"), ("tls1_3", "TLSv1.3")] {
        let out = handshake(&addr, version);
        assert!(
            out.contains(&format!("New, {name}, Cipher is ")),
            "{version}:\n{out}"
        );
        assert!(!out.contains("Cipher is (NONE)"), "{version}:\n{out}");
    }
}
