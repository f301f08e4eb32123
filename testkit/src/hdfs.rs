//! A real HDFS: Hadoop 3's MiniDFSCluster (NameNode + one DataNode in one JVM) from Maven Central
//! jars, on a free port, for one test; killed on drop. `scripts/services/maven-jars.sh hdfs`
//! fetches the jars (`CHAINX_HDFS_LIB` overrides where they are) and
//! `scripts/services/hdfs/MiniDfs.java` starts the cluster, as the hdfs-native crate's tests do.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug)]
pub struct Hdfs {
    child: Child,
    _dir: tempfile::TempDir,
    /// `hdfs://127.0.0.1:PORT` of the NameNode.
    pub url: String,
}

impl Hdfs {
    /// Starts the cluster; returns once the NameNode and DataNode serve.
    pub async fn start() -> Hdfs {
        let lib = crate::maven_jars("CHAINX_HDFS_LIB", "hdfs");
        let source = crate::workspace_root().join("scripts/services/hdfs/MiniDfs.java");
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("minidfs.log")).unwrap();
        let mut child = Command::new("java")
            .args(["-Xms128m", "-Xmx768m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg("-cp")
            .arg(format!("{}/*", lib.display()))
            .arg(&source)
            .arg(dir.path().join("dfs"))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start java (HDFS needs Java 17 with its compiler: openjdk-17-jdk-headless)");
        let stdout = child.stdout.take().unwrap();
        let log_path = dir.path().join("minidfs.log");
        // MiniDfs prints its URL once the cluster is active, or exits.
        let line = tokio::time::timeout(
            Duration::from_secs(180),
            tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                BufReader::new(stdout).read_line(&mut line).map(|_| line)
            }),
        )
        .await
        .unwrap_or_else(|_| panic!("HDFS did not start within 180 s; see {}", log_path.display()))
        .unwrap()
        .unwrap();
        let url = line.trim().to_string();
        assert!(
            url.starts_with("hdfs://"),
            "MiniDFSCluster exited without serving: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        Hdfs { child, _dir: dir, url }
    }
}

impl Drop for Hdfs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
