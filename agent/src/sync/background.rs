//! Sync in the background, as an app runs it: [`BackgroundSync`] runs
//! [`Agent::sync_forever_with`] on a tokio runtime, keeps where it stands
//! ([`SyncState`]) for a status screen, passes each [`SyncEvent`] on so a
//! UI can refresh, and stops on request.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use waybill_shared::doc::DocId;

use crate::agent::Agent;

/// Where background sync stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncState {
    /// Connecting to the server: the first time, or again after a drop.
    Connecting,
    /// Connected and caught up; the server's pushes now arrive at once.
    Connected,
    /// The server could not be reached, the link dropped, or the server
    /// refused: `error` says why. The next try is after `retry_in`.
    Offline {
        /// Why.
        error: String,
        /// When the next try is.
        retry_in: Duration,
    },
    /// Not running: stopped, or never started.
    Stopped,
}

/// What background sync tells as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// It stands somewhere new.
    State(SyncState),
    /// Documents it changed here: others' work arrived, or refused work was
    /// taken out ([`crate::SyncReport::changed`], or the one a push
    /// announced).
    Changed(Vec<DocId>),
}

/// Background sync of one agent: where it stands, and how to stop it.
pub struct BackgroundSync {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    state: Arc<Mutex<SyncState>>,
}

impl BackgroundSync {
    /// Starts syncing `agent` on `runtime` until stopped, reconnecting with
    /// backoff, calling `on` (on a runtime thread) with every event. Give it
    /// a handle of its own on the store ([`Agent::open`]): it holds it while
    /// connected, and the app's handle stays free for work.
    pub fn start(
        mut agent: Agent,
        runtime: &tokio::runtime::Handle,
        mut on: impl FnMut(SyncEvent) + Send + 'static,
    ) -> Self {
        let state = Arc::new(Mutex::new(SyncState::Connecting));
        let (stop, stopped) = oneshot::channel();
        let seen = Arc::clone(&state);
        let task = runtime.spawn(async move {
            let mut tell = move |event: SyncEvent| {
                if let SyncEvent::State(now) = &event {
                    *seen.lock().unwrap_or_else(PoisonError::into_inner) = now.clone();
                }
                on(event);
            };
            let stop = async {
                let _ = stopped.await;
            };
            agent.sync_forever_with(stop, &mut tell).await;
            tell(SyncEvent::State(SyncState::Stopped));
        });
        Self { stop, task, state }
    }

    /// Where it stands now.
    pub fn state(&self) -> SyncState {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Stops it: a live connection is closed, and this returns once it is.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
