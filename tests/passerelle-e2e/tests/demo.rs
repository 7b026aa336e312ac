//! `passerelle demo`, as a newcomer meets it: it prints each demo user's web login
//! (username, password, TOTP secret), `demo code USER` prints the current code, and with
//! them the person logs in to the pages at once; a data dir it did not create is refused.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use passerelle_e2e::{bin, pct};

/// Kills the demo server when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (k, val) = v.split(';').next()?.split_once('=')?;
            (k == name).then(|| val.to_owned())
        })
}

fn hidden_csrf(html: &str) -> String {
    let start = "name=\"csrf\" value=\"";
    let from = html.find(start).expect("csrf field") + start.len();
    let to = html[from..].find('"').expect("end") + from;
    html[from..to].to_owned()
}

/// The TOTP code of `secret` `steps` time steps from now.
fn totp_at(secret: &str, steps: i64) -> String {
    let seed = totp_rs::Secret::try_from_base32(secret).expect("base32");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    totp_rs::Builder::new()
        .with_secret(seed)
        .build()
        .expect("totp")
        .generate((now + 30 * steps) as u64)
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_prints_logins_that_work_in_the_browser() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("demo-data");
    let mut child = Command::new(bin())
        .arg("--data-dir")
        .arg(&data)
        .arg("demo")
        .env_remove("PASSERELLE_DATABASE_URL")
        .env("PASSERELLE_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let _running = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    let base = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(180))
            .unwrap_or_else(|_| panic!("demo did not start: {printed:#?}"));
        if let Some(addr) = line.strip_prefix("Passerelle listens on ") {
            break addr.trim().to_owned();
        }
        printed.push(line);
    };
    let text = printed.join("\n");
    assert!(text.contains("/login"), "says where to log in: {text}");
    assert!(text.contains("demo code"), "says how to get a code: {text}");
    // "  psy.bernard    receiver     avec63    password demo-…  TOTP secret …"
    let line = printed
        .iter()
        .find(|l| l.trim_start().starts_with("psy.bernard") && l.contains("password"))
        .expect("psy.bernard's login line");
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |w: &str| {
        let i = words.iter().position(|x| *x == w).expect(w);
        words[i + 1].to_owned()
    };
    let password = after("password");
    let secret = after("secret");
    assert!(password.len() >= 12, "a password of 12 characters or more");
    for user in ["iscg.martin", "dr.urgences", "dpo.audit"] {
        assert!(
            printed
                .iter()
                .any(|l| l.trim_start().starts_with(user) && l.contains("secret")),
            "{user}'s login is printed"
        );
    }

    // `demo code USER` prints the code of the printed secret.
    let out = Command::new(bin())
        .arg("--data-dir")
        .arg(&data)
        .args(["demo", "code", "psy.bernard"])
        .output()
        .expect("demo code");
    assert!(out.status.success(), "{out:?}");
    let code = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    assert_eq!(code.len(), 6, "{code}");
    // Read a moment ago: the current step's code, or the previous one across a boundary.
    assert!(
        [totp_at(&secret, 0), totp_at(&secret, -1)].contains(&code),
        "the code of the printed secret"
    );
    let unknown = Command::new(bin())
        .arg("--data-dir")
        .arg(&data)
        .args(["demo", "code", "nobody"])
        .output()
        .expect("demo code nobody");
    assert!(!unknown.status.success());

    // With them, the pages let her in at once (users are enrolled already).
    let cert = std::fs::read(data.join("tls/cert.pem")).expect("certificate");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("PEM"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login page");
    let cookie = set_cookie(&page, "__Host-passerelle-login").expect("login cookie");
    let csrf = hidden_csrf(&page.text().await.expect("html"));
    let res = http
        .post(format!("{base}/login"))
        .header("cookie", format!("__Host-passerelle-login={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&username=psy.bernard&password={}&code={code}&next=%2Finbox",
            pct(&csrf),
            pct(&password)
        ))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), 303, "the printed login works");
    assert_eq!(
        res.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/inbox")
    );
    let session = set_cookie(&res, "__Host-passerelle").expect("session");
    let inbox = http
        .get(format!("{base}/inbox"))
        .header("cookie", format!("__Host-passerelle={session}"))
        .send()
        .await
        .expect("inbox");
    assert_eq!(inbox.status(), 200);
    assert!(inbox.text().await.expect("html").contains("Dossiers reçus"));

    // A data dir demo did not create is refused, untouched.
    let foreign = tmp.path().join("real");
    std::fs::create_dir_all(&foreign).expect("dir");
    std::fs::write(foreign.join("keep.txt"), "mine").expect("file");
    let refused = Command::new(bin())
        .arg("--data-dir")
        .arg(&foreign)
        .arg("demo")
        .env("PASSERELLE_LISTEN", "127.0.0.1:0")
        .output()
        .expect("demo on a foreign dir");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a demo data dir"));
    assert_eq!(
        std::fs::read_dir(&foreign).expect("dir").count(),
        1,
        "nothing written"
    );
}
