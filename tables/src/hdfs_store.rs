//! The HDFS store (hdfs-native), with every call run in a task of its own.
//!
//! Why: hdfs-native sends every NameNode call of a client through one `tokio::sync::Mutex` (the
//! connection), and that lock is fair: on release it is handed to the first waiter, which holds it
//! until it is next polled. delta-kernel reads a table's log as `buffered(n)` opens of its files,
//! flattened: while it reads one file's body it does not poll the other opens. An open that queued
//! for the lock at that moment was handed it and is never polled; the body's own NameNode call
//! (the first DataNode read of a client asks for the server defaults) waits behind it for ever.
//! Seen: one table open in three hung, 17 `getBlockLocations` and a `getServerDefaults` queued,
//! every tokio worker idle. A call in its own task is always polled, so the lock moves on.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use deltalake::logstore::{ObjectStoreRef, StorageConfig};
use deltalake::{DeltaResult, DeltaTableError, Path};
use futures::stream::{self, BoxStream};
use futures::{FutureExt, StreamExt};
use hdfs_native_object_store::HdfsObjectStoreBuilder;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use url::Url;

/// The store of an `hdfs://` or `viewfs://` lake: hdfs-native behind [`TaskPerCall`].
pub(crate) fn hdfs_store(url: &Url, config: &StorageConfig) -> DeltaResult<ObjectStoreRef> {
    let store = HdfsObjectStoreBuilder::new()
        .with_url(url.as_str())
        .with_config(&config.raw)
        .build()
        .map_err(|e| DeltaTableError::Generic(format!("HDFS store for {url}: {e}")))?;
    Ok(Arc::new(TaskPerCall(Arc::new(store))))
}

/// An [`ObjectStore`] whose calls, and the streams they return, each run in their own tokio task.
pub(crate) struct TaskPerCall(pub(crate) Arc<dyn ObjectStore>);

impl fmt::Debug for TaskPerCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskPerCall({:?})", self.0)
    }
}

impl fmt::Display for TaskPerCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskPerCall({})", self.0)
    }
}

/// Runs `call` on the inner store as a task and waits for it; a panic in it panics here.
async fn in_task<T, F>(store: &Arc<dyn ObjectStore>, call: F) -> object_store::Result<T>
where
    T: Send + 'static,
    F: FnOnce(Arc<dyn ObjectStore>) -> futures::future::BoxFuture<'static, object_store::Result<T>>,
{
    match tokio::spawn(call(store.clone())).await {
        Ok(result) => result,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => Err(object_store::Error::JoinError { source: e }),
        },
    }
}

/// `inner`, driven by a task of its own from the first poll on, one item ahead of the reader.
/// The task ends when `inner` does or when the reader drops the stream.
fn in_own_task<T: Send + 'static>(mut inner: BoxStream<'static, T>) -> BoxStream<'static, T> {
    stream::once(async move {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    item = inner.next() => item,
                    () = tx.closed() => None,
                };
                let Some(item) = item else { break };
                if tx.send(item).await.is_err() {
                    break;
                }
            }
        });
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
    })
    .flatten()
    .boxed()
}

#[async_trait::async_trait]
impl ObjectStore for TaskPerCall {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let location = location.clone();
        in_task(&self.0, move |s| {
            async move { s.put_opts(&location, payload, opts).await }.boxed()
        })
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        // The upload's parts are awaited by the writer itself, never left unpolled in a stream.
        let location = location.clone();
        in_task(&self.0, move |s| {
            async move { s.put_multipart_opts(&location, opts).await }.boxed()
        })
        .await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let location = location.clone();
        let mut result = in_task(&self.0, move |s| {
            async move { s.get_opts(&location, options).await }.boxed()
        })
        .await?;
        if let GetResultPayload::Stream(body) = result.payload {
            result.payload = GetResultPayload::Stream(in_own_task(body));
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        let (location, ranges) = (location.clone(), ranges.to_vec());
        in_task(&self.0, move |s| {
            async move { s.get_ranges(&location, &ranges).await }.boxed()
        })
        .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        in_own_task(self.0.delete_stream(locations))
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        in_own_task(self.0.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        in_own_task(self.0.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let prefix = prefix.cloned();
        in_task(&self.0, move |s| {
            async move { s.list_with_delimiter(prefix.as_ref()).await }.boxed()
        })
        .await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        let (from, to) = (from.clone(), to.clone());
        in_task(&self.0, move |s| {
            async move { s.copy_opts(&from, &to, options).await }.boxed()
        })
        .await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> object_store::Result<()> {
        let (from, to) = (from.clone(), to.clone());
        in_task(&self.0, move |s| {
            async move { s.rename_opts(&from, &to, options).await }.boxed()
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use chainx_testkit::hdfs::Hdfs;
    use object_store::ObjectStoreExt;
    use std::time::Duration;

    fn store(url: &str) -> ObjectStoreRef {
        hdfs_store(&Url::parse(&format!("{url}/log/")).unwrap(), &StorageConfig::default()).unwrap()
    }

    /// What `read` reads, failing if it takes 30 s.
    async fn within(what: &str, read: impl std::future::Future<Output = object_store::Result<Bytes>>) -> String {
        let got = tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .unwrap_or_else(|_| panic!("{what} hung behind an unpolled call"));
        String::from_utf8(got.unwrap().to_vec()).unwrap()
    }

    /// The hang, made certain: on a new client, one read connects to the NameNode (holding the
    /// connection's lock) while a second queues for it and is then not polled, as delta-kernel
    /// leaves its other opens while it reads one body. Once the first read's first call is done,
    /// the lock is the unpolled second's: with hdfs-native alone neither the first read's next
    /// call nor a third read is ever answered (seen: this test fails at its first deadline).
    /// Behind [`TaskPerCall`] each call is its own task, and all three finish.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_left_unpolled_in_the_namenode_queue_blocks_no_other() {
        let hdfs = Hdfs::start().await;
        let writer = store(&hdfs.url);
        for name in ["a", "b", "c"] {
            writer
                .put(&Path::from(format!("log/{name}.json")), name.into())
                .await
                .unwrap();
        }
        let store = store(&hdfs.url);
        let read = |name: &'static str| {
            let store = store.clone();
            async move { store.get(&Path::from(format!("log/{name}.json"))).await?.bytes().await }
        };
        let mut first = Box::pin(read("a"));
        let mut queued = Box::pin(read("b"));
        assert!(futures::poll!(&mut first).is_pending(), "the first read connects");
        assert!(futures::poll!(&mut queued).is_pending(), "the second waits its turn");
        // `queued` stays alive and unpolled until the other two are done.
        assert_eq!(within("the first read", first).await, "a");
        assert_eq!(within("a third read", Box::pin(read("c"))).await, "c");
        assert_eq!(within("the second read", queued).await, "b");
    }
}
