//! A real Apache Cassandra node (Maven Central's cassandra-all, run from its jars on Java 17)
//! on free ports, for one test; killed on drop. `scripts/services/maven-jars.sh cassandra` fetches
//! the jars; `CHAINX_CASSANDRA_LIB` overrides where they are.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::free_port;

/// Cassandra 5's module flags for Java 17 (its conf/jvm17-server.options).
const JVM17: &[&str] = &[
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
];

#[derive(Debug)]
pub struct Cassandra {
    child: Child,
    _dir: tempfile::TempDir,
    /// `127.0.0.1:PORT` of the CQL native transport.
    pub node: String,
}

fn jars() -> PathBuf {
    crate::maven_jars("CHAINX_CASSANDRA_LIB", "cassandra")
}

impl Cassandra {
    pub async fn start() -> Cassandra {
        let lib = jars();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let (storage, native, jmx) = (free_port(), free_port(), free_port());
        let yaml = format!(
            "cluster_name: chainx-test\nnum_tokens: 1\npartitioner: org.apache.cassandra.dht.Murmur3Partitioner\n\
             data_file_directories: [{d}/data]\ncommitlog_directory: {d}/commitlog\n\
             saved_caches_directory: {d}/saved_caches\nhints_directory: {d}/hints\ncdc_raw_directory: {d}/cdc\n\
             commitlog_sync: periodic\ncommitlog_sync_period: 10000ms\n\
             seed_provider:\n  - class_name: org.apache.cassandra.locator.SimpleSeedProvider\n    parameters:\n      - seeds: \"127.0.0.1:{storage}\"\n\
             listen_address: 127.0.0.1\nrpc_address: 127.0.0.1\nstorage_port: {storage}\nnative_transport_port: {native}\n\
             start_native_transport: true\nendpoint_snitch: SimpleSnitch\n"
        );
        std::fs::write(dir.path().join("cassandra.yaml"), yaml).unwrap();
        let log = std::fs::File::create(dir.path().join("cassandra.log")).unwrap();
        let child = Command::new("java")
            .args(["-Xms256m", "-Xmx768m"])
            .args(JVM17)
            .arg(format!("-Dcassandra.config=file://{d}/cassandra.yaml"))
            .arg(format!("-Dcassandra.storagedir={d}"))
            .arg(format!("-Dcassandra.logdir={d}/logs"))
            .arg(format!("-Dcassandra.jmx.local.port={jmx}"))
            .args([
                "-Dcassandra-foreground=yes",
                "-Dcassandra.skip_wait_for_gossip_to_settle=0",
                "-Dcassandra.ring_delay_ms=100",
            ])
            .arg("-cp")
            .arg(format!("{}/*", lib.display()))
            .arg("org.apache.cassandra.service.CassandraDaemon")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start java (Cassandra needs Java 17)");
        let mut c = Cassandra {
            child,
            _dir: dir,
            node: format!("127.0.0.1:{native}"),
        };
        let deadline = Instant::now() + Duration::from_secs(180);
        while tokio::net::TcpStream::connect(("127.0.0.1", native)).await.is_err() {
            if let Ok(Some(status)) = c.child.try_wait() {
                panic!("Cassandra exited ({status}); see its log in {d}/cassandra.log");
            }
            assert!(
                Instant::now() < deadline,
                "Cassandra did not open port {native} within 180 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        c
    }
}

impl Drop for Cassandra {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
