//! What triggers a reload: `SIGHUP`, and a change of the config file, the tenant file or a
//! certificate (watched with `notify`, debounced). The admin API triggers it directly.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use notify::{RecursiveMode, Watcher};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::sync::mpsc;

use crate::control::{Control, WATCH_DEBOUNCE};

/// The files whose change triggers a reload: the config, the tenant file, certificates and
/// keys. (Admin tokens are read at start only: a changed token file needs a restart.)
pub fn watched_files(control: &Control) -> Vec<PathBuf> {
    let live = control.state.live();
    let c = &live.snapshot.config;
    let mut files = vec![control.config_path().to_path_buf()];
    for cert in &c.tls.certificates {
        files.push(cert.cert.clone());
        files.push(cert.key.clone());
    }
    if let Some(f) = &c.tenancy.file {
        files.push(f.clone());
    }
    files
}

/// Reloads on `SIGHUP` and on changes of the watched files.
pub struct ReloadTriggers {
    control: Arc<Control>,
}

impl ReloadTriggers {
    /// Triggers for `control`.
    pub fn new(control: Arc<Control>) -> Self {
        ReloadTriggers { control }
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Kubernetes' atomic writer (ConfigMap and Secret volumes) updates a volume by writing a new
/// timestamped directory and renaming this symlink to point at it; the files are symlinks
/// through it.
const KUBERNETES_DATA_LINK: &str = "..data";

/// The directories to watch for `files`: each file's directory as written (where Kubernetes
/// swaps [`KUBERNETES_DATA_LINK`]) and the directory it resolves to now (where an editor's
/// rename lands). The second changes with every Kubernetes update, so the watch is renewed
/// whenever this set changes.
pub fn watch_dirs(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .flat_map(|f| [f.to_path_buf(), canonical(f)])
        .map(|f| {
            f.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        })
        .map(|d| canonical(&d))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Watches [`watch_dirs`] (editors and `kubectl` replace files by renaming, which a watch on
/// the file itself would miss) and sends on `tx` when one of `files` changes.
fn start_watcher(
    files: &[PathBuf],
    tx: mpsc::UnboundedSender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    let wanted: HashSet<PathBuf> = files.iter().map(|f| canonical(f)).collect();
    let names: HashSet<std::ffi::OsString> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_os_string()))
        .collect();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        let relevant = event.paths.iter().any(|p| {
            wanted.contains(&canonical(p))
                || p.file_name()
                    .is_some_and(|n| names.contains(n) || n == KUBERNETES_DATA_LINK)
        });
        if relevant {
            let _ = tx.send(());
        }
    })?;
    for dir in watch_dirs(files) {
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    }
    Ok(watcher)
}

#[async_trait]
impl BackgroundService for ReloadTriggers {
    /// Signals ready only once SIGHUP is handled and the watch is in place: the proxy service
    /// waits for it, so no change made after the gateway accepts traffic goes unnoticed (and
    /// an early SIGHUP does not kill the process, its default action).
    async fn start_with_ready_notifier(
        &self,
        mut shutdown: ShutdownWatch,
        ready: pingora::services::ServiceReadyNotifier,
    ) {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP; reload with the admin API");
                None
            }
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut files = watched_files(&self.control);
        let mut dirs = watch_dirs(&files);
        let mut watcher = match start_watcher(&files, tx.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(error = %e, "cannot watch the config files; reload with SIGHUP or the admin API");
                None
            }
        };
        ready.notify_ready();
        loop {
            let trigger = tokio::select! {
                _ = shutdown.changed() => return,
                Some(_) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => "SIGHUP",
                Some(()) = rx.recv() => {
                    // Collect the burst of events one save produces.
                    tokio::time::sleep(WATCH_DEBOUNCE).await;
                    while rx.try_recv().is_ok() {}
                    "file change"
                }
            };
            // Refused or not: the files may now resolve elsewhere (a Kubernetes update) or be
            // others (a new tenant file, another certificate).
            let _ = self.control.reload(trigger).await;
            let now = watched_files(&self.control);
            let now_dirs = watch_dirs(&now);
            if now != files || now_dirs != dirs {
                files = now;
                dirs = now_dirs;
                drop(watcher.take());
                watcher = match start_watcher(&files, tx.clone()) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot watch the config files any more; reload with SIGHUP or the admin API");
                        None
                    }
                };
            }
        }
    }
}
