//! [`Device`]: one device's store, opened by the app. Each method is one
//! agent call; sync runs on this library's runtime, on handles of its own
//! on the store, and tells a [`DeviceListener`] what changed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tokio::runtime::Runtime;
use waybill_agent::{Agent, BackgroundSync, DeliveryRequest, PickRequest, SyncEvent};
use waybill_shared::id::InvalidId;

use crate::error::WaybillError;
use crate::types::*;

/// Told when views change under the app and when background sync moves, so
/// a UI can refresh. Called on a background thread: hop to the UI thread
/// before touching views. The app's own calls do not call it: their result
/// is the answer.
#[uniffi::export(foreign)]
pub trait DeviceListener: Send + Sync {
    /// Sync changed these documents here (`order/SO-1001`,
    /// `route/R-7`, `location/wh-1/0`): others' work arrived, or refused work
    /// was taken out. Views and task lists that show them are stale.
    fn views_changed(&self, documents: Vec<String>);
    /// Background sync stands somewhere new.
    fn sync_state_changed(&self, state: SyncState);
}

type Listener = Arc<Mutex<Option<Arc<dyn DeviceListener>>>>;

/// One device's store, opened by the app: its work, its views and its sync.
/// Every operation checks its input, and either records one event durably
/// before returning or throws and writes nothing. Calls may come from any
/// thread; they are served one at a time.
#[derive(uniffi::Object)]
pub struct Device {
    path: PathBuf,
    agent: Mutex<Agent>,
    listener: Listener,
    background: Mutex<Option<BackgroundSync>>,
}

fn runtime() -> Result<&'static Runtime, WaybillError> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("waybill-sync")
        .enable_all()
        .build()
        .map_err(|e| WaybillError::Internal(format!("cannot start the sync runtime: {e}")))?;
    Ok(RUNTIME.get_or_init(|| rt))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn id<T: FromStr<Err = InvalidId>>(s: &str) -> Result<T, WaybillError> {
    Ok(s.parse()?)
}

fn tell(listener: &Listener, event: SyncEvent) {
    let Some(l) = lock(listener).clone() else { return };
    match event {
        SyncEvent::Changed(docs) => l.views_changed(crate::types::strings(docs)),
        SyncEvent::State(state) => l.sync_state_changed(state.into()),
    }
}

impl Device {
    fn new(path: PathBuf, agent: Agent) -> Arc<Self> {
        let agent = Mutex::new(agent);
        Arc::new(Self { path, agent, listener: Listener::default(), background: Mutex::new(None) })
    }

    fn agent(&self) -> MutexGuard<'_, Agent> {
        lock(&self.agent)
    }
}

#[uniffi::export]
impl Device {
    /// Opens the device store at `path` (a file in the app's private
    /// storage), enrolled before with `enrol`.
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>, WaybillError> {
        Ok(Self::new(path.clone().into(), Agent::open(path.as_ref())?))
    }

    /// Enrols this device with the sync server at `server` (`host:port`)
    /// using the one-time `code` and the server `fingerprint` the office
    /// gave, and creates its store at `path`. The server decides the
    /// device's id, role and location.
    #[uniffi::constructor]
    pub async fn enrol(
        path: String,
        server: String,
        code: String,
        fingerprint: String,
    ) -> Result<Arc<Self>, WaybillError> {
        let addr: SocketAddr = server
            .parse()
            .map_err(|_| WaybillError::Invalid(format!("server {server:?} is not host:port")))?;
        let store = PathBuf::from(path);
        let enrolled = runtime()?
            .spawn(async move { Agent::enrol(&store, addr, &code, &fingerprint).await.map(|a| (store, a)) })
            .await
            .map_err(|e| WaybillError::Internal(e.to_string()))?;
        let (store, agent) = enrolled?;
        Ok(Self::new(store, agent))
    }

    /// Who this device is.
    pub fn profile(&self) -> DeviceProfile {
        self.agent().profile().clone().into()
    }

    /// This device's work list: a picker's picks in bin-walk order, a
    /// packer's queue, a driver's routes stop by stop.
    pub fn tasks(&self) -> Result<Tasks, WaybillError> {
        Ok(self.agent().tasks()?.into())
    }

    /// What a scanned code (bin label, GTIN, GS1 element string, SSCC,
    /// order or route label) is on this device.
    pub fn scan(&self, code: String) -> Result<Scanned, WaybillError> {
        Ok(self.agent().scan(&code)?.into())
    }

    /// Picks `quantity` units of an order line from a bin: `bin` and `item`
    /// as scanned. More than the line needs takes a supervisor's
    /// `override_reason`.
    #[uniffi::method(default(override_reason = None))]
    pub fn pick(
        &self,
        order: String,
        line: u32,
        bin: String,
        item: String,
        quantity: u32,
        override_reason: Option<String>,
    ) -> Result<Recorded, WaybillError> {
        let req = PickRequest { order: id(&order)?, line, bin, item, quantity, override_reason };
        Ok(self.agent().pick(&req)?.into())
    }

    /// Reports `quantity` units of a line missing from a bin.
    pub fn short_pick(
        &self,
        order: String,
        line: u32,
        bin: String,
        quantity: u32,
        reason: ShortReason,
    ) -> Result<Recorded, WaybillError> {
        Ok(self.agent().short_pick(&id(&order)?, line, &bin, quantity, reason.into())?.into())
    }

    /// Puts picked units of a line back into a bin.
    pub fn put_back(
        &self,
        order: String,
        line: u32,
        bin: String,
        item: String,
        quantity: u32,
    ) -> Result<Recorded, WaybillError> {
        Ok(self.agent().put_back(&id(&order)?, line, &bin, &item, quantity)?.into())
    }

    /// Packs picked units of an order into the package labelled `package`
    /// (SSCC), new or still open.
    #[uniffi::method(default(weight_g = None, dimensions = None))]
    pub fn pack(
        &self,
        order: String,
        package: String,
        lines: Vec<LineQuantity>,
        weight_g: Option<u32>,
        dimensions: Option<Dimensions>,
    ) -> Result<Recorded, WaybillError> {
        let lines: Vec<(u32, u32)> = crate::types::all(lines);
        Ok(self.agent().pack(&id(&order)?, &package, &lines, weight_g, dimensions.map(Into::into))?.into())
    }

    /// Seals a package: nothing more goes in.
    #[uniffi::method(default(weight_g = None))]
    pub fn close_package(
        &self,
        order: String,
        package: String,
        weight_g: Option<u32>,
    ) -> Result<Recorded, WaybillError> {
        Ok(self.agent().close_package(&id(&order)?, &package, weight_g)?.into())
    }

    /// Sets a closed package down in a staging lane or dock door.
    pub fn stage(&self, order: String, package: String, area: String) -> Result<Recorded, WaybillError> {
        Ok(self.agent().stage(&id(&order)?, &package, &area)?.into())
    }

    /// Loads a package on the van of a route.
    pub fn load(&self, route: String, package: String) -> Result<Recorded, WaybillError> {
        Ok(self.agent().load(&id(&route)?, &package)?.into())
    }

    /// The van sets out: one event per order loaded for the route.
    pub fn out_for_delivery(&self, route: String) -> Result<Vec<Recorded>, WaybillError> {
        Ok(crate::types::all(self.agent().out_for_delivery(&id(&route)?)?))
    }

    /// Arrives at a stop of a route.
    #[uniffi::method(default(gps = None))]
    pub fn arrive(&self, route: String, stop: u32, gps: Option<Gps>) -> Result<Recorded, WaybillError> {
        Ok(self.agent().arrive(&id(&route)?, stop, gps.map(Into::into))?.into())
    }

    /// Delivers one order's packages at a stop, with the proof the order
    /// needs (photo and signature as bytes or files, name, GPS).
    pub fn deliver(&self, delivery: Delivery) -> Result<Recorded, WaybillError> {
        let req = DeliveryRequest {
            route: id(&delivery.route)?,
            stop: delivery.stop,
            packages: delivery.packages,
            recipient_name: delivery.recipient_name,
            relation: delivery.relation.into(),
            left_at: delivery.left_at,
            photo: delivery.photo.map(Into::into),
            signature: delivery.signature.map(Into::into),
            gps: delivery.gps.map(Into::into),
            note: delivery.note,
            age_check_passed: delivery.age_check_passed,
            collection: delivery.collection.map(TryInto::try_into).transpose()?,
        };
        Ok(self.agent().deliver(&req)?.into())
    }

    /// A delivery attempt at a stop failed: one event per order with
    /// packages on the van.
    #[uniffi::method(default(note = "", gps = None))]
    pub fn fail_attempt(
        &self,
        route: String,
        stop: u32,
        reason: FailReason,
        note: String,
        gps: Option<Gps>,
    ) -> Result<Vec<Recorded>, WaybillError> {
        let events =
            self.agent().fail_attempt(&id(&route)?, stop, reason.into(), note, gps.map(Into::into))?;
        Ok(crate::types::all(events))
    }

    /// Takes an undelivered package off the van at the depot.
    pub fn return_to_depot(&self, route: String, package: String) -> Result<Recorded, WaybillError> {
        Ok(self.agent().return_to_depot(&id(&route)?, &package)?.into())
    }

    /// Receives goods a customer returned: restocked into `bin`, or damaged.
    #[uniffi::method(default(rma = None, bin = None))]
    pub fn receive_return(
        &self,
        order: String,
        lines: Vec<LineQuantity>,
        disposition: Disposition,
        rma: Option<String>,
        bin: Option<String>,
    ) -> Result<Recorded, WaybillError> {
        let lines: Vec<(u32, u32)> = crate::types::all(lines);
        let order = id(&order)?;
        Ok(self.agent().receive_return(&order, &lines, disposition.into(), rma, bin.as_deref())?.into())
    }

    /// Receives stock into a bin at this device's location.
    pub fn receive(&self, bin: String, item: String, quantity: u32) -> Result<Recorded, WaybillError> {
        Ok(self.agent().receive(&bin, &item, quantity)?.into())
    }

    /// Moves stock from one bin to another.
    pub fn put_away(
        &self,
        from_bin: String,
        to_bin: String,
        item: String,
        quantity: u32,
    ) -> Result<Recorded, WaybillError> {
        Ok(self.agent().put_away(&from_bin, &to_bin, &item, quantity)?.into())
    }

    /// Counts a bin: `counted` units of `item` found there.
    pub fn count(&self, bin: String, item: String, counted: i64) -> Result<Recorded, WaybillError> {
        Ok(self.agent().count(&bin, &item, counted)?.into())
    }

    /// Adjusts the stock of an item in a bin by `delta` units (negative:
    /// removed), for a reason.
    pub fn adjust(
        &self,
        bin: String,
        item: String,
        delta: i64,
        reason: AdjustReason,
    ) -> Result<Recorded, WaybillError> {
        Ok(self.agent().adjust(&bin, &item, delta, reason.into())?.into())
    }

    /// Sells `quantity` units of `item` from `bin` to `customer` out of this
    /// device's quota (a van sale at the door): works offline; throws
    /// `TooMany` beyond what the quota still holds.
    pub fn sell(
        &self,
        bin: String,
        item: String,
        quantity: u32,
        customer: Option<String>,
    ) -> Result<Recorded, WaybillError> {
        Ok(self.agent().sell(&bin, &item, quantity, customer)?.into())
    }

    /// Hands `quantity` unused units of this device's quota of `item` back.
    pub fn release_quota(&self, item: String, quantity: u32) -> Result<Recorded, WaybillError> {
        Ok(self.agent().release_quota(&item, quantity)?.into())
    }

    /// This device's quotas at its location: what it may still sell.
    pub fn quotas(&self) -> Result<Vec<Quota>, WaybillError> {
        Ok(crate::types::all(self.agent().quotas()?))
    }

    /// An order's merged view, with its exceptions.
    pub fn order(&self, order: String) -> Result<Order, WaybillError> {
        Ok(self.agent().order_view(&id(&order)?)?.into())
    }

    /// A location's merged stock.
    pub fn stock(&self, location: String) -> Result<StockView, WaybillError> {
        Ok(self.agent().stock_view(&id(&location)?)?.into())
    }

    /// A route's merged view.
    pub fn route(&self, route: String) -> Result<Route, WaybillError> {
        Ok(self.agent().route_view(&id(&route)?)?.into())
    }

    /// The sync status screen: where background sync stands, pending
    /// events, last sync.
    pub fn sync_status(&self) -> Result<SyncStatus, WaybillError> {
        let state = lock(&self.background).as_ref().map_or(SyncState::Stopped, |b| b.state().into());
        Ok(SyncStatus::of(self.agent().status()?, state))
    }

    /// Sets (or, with `None`, clears) the listener told of changed views
    /// and sync states.
    pub fn set_listener(&self, listener: Option<Arc<dyn DeviceListener>>) {
        *lock(&self.listener) = listener;
    }

    /// Starts syncing in the background: connects, stays connected taking
    /// others' work as it happens, and reconnects with backoff while
    /// offline. Does nothing if it is already running.
    pub fn start_sync(&self) -> Result<(), WaybillError> {
        let mut background = lock(&self.background);
        if background.is_none() {
            let listener = Arc::clone(&self.listener);
            let agent = Agent::open(&self.path)?;
            *background =
                Some(BackgroundSync::start(agent, runtime()?.handle(), move |e| tell(&listener, e)));
        }
        Ok(())
    }

    /// Stops background sync, closing its connection; returns once it has.
    pub async fn stop_sync(&self) {
        let running = lock(&self.background).take();
        if let Some(sync) = running {
            sync.stop().await;
        }
    }

    /// Syncs once now: uploads this device's work and photos, takes others'
    /// work, and tells the listener which views changed.
    pub async fn sync_now(&self) -> Result<SyncReport, WaybillError> {
        let path = self.path.clone();
        let report = runtime()?
            .spawn(async move { Agent::open(&path)?.sync_once().await })
            .await
            .map_err(|e| WaybillError::Internal(e.to_string()))??;
        if !report.changed.is_empty() {
            tell(&self.listener, SyncEvent::Changed(report.changed.clone()));
        }
        Ok(report.into())
    }
}
