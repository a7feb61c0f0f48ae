//! Local discovery with mDNS (`mdns-sd`): advertises this device's listening port as
//! [`SERVICE_TYPE`] under a random instance name chosen at each start, browses for other
//! instances, and dials every one it resolves, redialing lost peers with bounded exponential
//! backoff. Owns the mDNS daemon, the advertisement and the per-instance dialers; the
//! sessions themselves (and the choice between two connections to one device) belong to
//! whatever [`Dialer`] it is given (the manager's network), which it knows only by that trait.
//!
//! Nothing identifying goes into mDNS: the instance and host names are random per start and
//! there are no TXT records. The device proves who it is only inside the Noise handshake.
//!
//! By default every network interface is used (a hotspot's own access-point interface too).
//! The daemon opens its sockets on the interfaces present when it starts, before any
//! selection applies: tests must run it only where every interface is theirs (a network
//! namespace they created).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use mdns_sd::{IfKind, ScopedIp, ServiceDaemon, ServiceEvent, ServiceInfo};
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

use crate::ids::DeviceId;
use crate::net::NetError;

/// The mDNS service type every device advertises and browses.
pub const SERVICE_TYPE: &str = "_mapeo._tcp.local.";
/// Random bytes in an instance name (shown as hex).
pub const INSTANCE_NAME_BYTES: usize = 8;
/// Most discovered instances dialed at once; further ones are ignored until some go away.
pub const MAX_DISCOVERED_INSTANCES: usize = 128;
/// Most addresses of one instance that are tried.
pub const MAX_ADDRESSES_PER_INSTANCE: usize = 8;
/// First wait before redialing an instance that could not be reached or was lost.
pub const RECONNECT_INITIAL_DELAY: Duration = Duration::from_millis(500);
/// Longest wait between two dials of one instance (the backoff doubles up to it).
pub const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(30);
/// How often a dialer checks whether its connected peer is still connected.
pub const CONNECTED_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// Longest random delay before the first dial of a new instance, so two devices that find
/// each other at once rarely dial each other at once.
pub const FIRST_DIAL_JITTER: Duration = Duration::from_millis(300);
/// A session that lasted this long counts as stable: after it ends the peer is redialed at
/// once and the backoff starts over. Shorter sessions keep backing off.
pub const STABLE_SESSION: Duration = Duration::from_secs(10);
/// How long stopping waits for the daemon to send goodbyes and shut down.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// What discovery dials through: the device's sessions, owned above this module (the
/// manager's network implements it).
pub trait Dialer: Send + Sync + 'static {
    /// This device, to tell a discovered instance that is ourselves.
    fn device_id(&self) -> DeviceId;
    /// Whether dialing is paused (sync stopped by the user).
    fn is_paused(&self) -> bool;
    /// Whether a session with `device` is up.
    fn is_connected(&self, device: &DeviceId) -> bool;
    /// Dials an address discovery found and starts a session; the device reached.
    fn connect_discovered(
        self: &Arc<Self>,
        addr: SocketAddr,
    ) -> impl Future<Output = Result<DeviceId, NetError>> + Send;
}

/// Which network interfaces discovery uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Interfaces {
    /// Every interface (what devices use).
    #[default]
    All,
    /// Only the interfaces with these names (tests: the veth of their own namespace).
    Named(Vec<String>),
}

/// How to run discovery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryOptions {
    /// The interfaces to advertise and browse on.
    pub interfaces: Interfaces,
}

/// Discovery could not start.
#[derive(Debug, Error)]
pub enum DiscoveryError {
    /// The mDNS daemon refused a step; names the step.
    #[error("mdns failed during {0}")]
    Mdns(&'static str),
    /// No randomness for the instance name.
    #[error("no randomness available")]
    Random,
}

/// Running discovery: stop it with [`Discovery::stop`] (or drop it, which skips goodbyes).
pub(crate) struct Discovery {
    daemon: ServiceDaemon,
    fullname: String,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery").finish_non_exhaustive()
    }
}

fn random_hex(bytes: usize) -> Result<String, DiscoveryError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|_| DiscoveryError::Random)?;
    Ok(hex::encode(buf))
}

/// A random duration in `[0, max)`.
fn jitter(max: Duration) -> Duration {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        return max / 2;
    }
    let frac = f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0);
    max.mul_f64(frac)
}

fn mdns<T>(r: mdns_sd::Result<T>, step: &'static str) -> Result<T, DiscoveryError> {
    r.map_err(|e| {
        tracing::warn!("mdns {step} failed: {e}");
        DiscoveryError::Mdns(step)
    })
}

impl Discovery {
    /// Advertises `port` and starts dialing what is found. Needs a tokio runtime.
    pub(crate) fn start<D: Dialer>(
        network: Arc<D>,
        port: u16,
        options: &DiscoveryOptions,
    ) -> Result<Discovery, DiscoveryError> {
        let daemon = mdns(ServiceDaemon::new(), "start")?;
        let started = Self::configure(&daemon, network, port, options);
        if started.is_err() {
            let _ = daemon.shutdown();
        }
        let (fullname, task) = started?;
        Ok(Discovery {
            daemon,
            fullname,
            task,
        })
    }

    fn configure<D: Dialer>(
        daemon: &ServiceDaemon,
        network: Arc<D>,
        port: u16,
        options: &DiscoveryOptions,
    ) -> Result<(String, JoinHandle<()>), DiscoveryError> {
        if let Interfaces::Named(names) = &options.interfaces {
            mdns(daemon.disable_interface(IfKind::All), "interface selection")?;
            for name in names {
                mdns(
                    daemon.enable_interface(IfKind::Name(name.clone())),
                    "interface selection",
                )?;
            }
        }
        let instance = random_hex(INSTANCE_NAME_BYTES)?;
        let host = format!("{instance}.local.");
        let info = mdns(
            ServiceInfo::new(
                SERVICE_TYPE,
                &instance,
                &host,
                "",
                port,
                None::<HashMap<String, String>>,
            ),
            "advertisement",
        )?
        .enable_addr_auto();
        let fullname = info.get_fullname().to_owned();
        mdns(daemon.register(info), "advertisement")?;
        let events = mdns(daemon.browse(SERVICE_TYPE), "browse")?;
        let own = fullname.clone();
        let task = tokio::spawn(async move {
            let mut dialers = Dialers::new(network, own);
            while let Ok(event) = events.recv_async().await {
                dialers.handle(event);
            }
            tracing::info!("mdns browsing ended");
        });
        tracing::info!("discovery started");
        Ok((fullname, task))
    }

    /// Withdraws the advertisement (goodbye packets), stops browsing and dialing, and shuts
    /// the daemon down; each wait bounded by [`STOP_TIMEOUT`]. Sessions stay up.
    pub(crate) async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
        if let Ok(rx) = self.daemon.unregister(&self.fullname) {
            let _ = tokio::time::timeout(STOP_TIMEOUT, rx.recv_async()).await;
        }
        if let Ok(rx) = self.daemon.shutdown() {
            let _ = tokio::time::timeout(STOP_TIMEOUT, rx.recv_async()).await;
        }
        tracing::info!("discovery stopped");
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        // After `stop` these fail harmlessly: the task is done and the daemon is gone.
        self.task.abort();
        let _ = self.daemon.shutdown();
    }
}

/// One dialer per discovered instance, fed its current addresses.
struct Dialers<D> {
    network: Arc<D>,
    own: String,
    tasks: JoinSet<()>,
    by_name: HashMap<String, (AbortHandle, watch::Sender<Vec<SocketAddr>>)>,
}

fn socket_addr(ip: &ScopedIp, port: u16) -> Option<SocketAddr> {
    match ip {
        ScopedIp::V4(v4) => Some(SocketAddr::new(IpAddr::V4(*v4.addr()), port)),
        ScopedIp::V6(v6) => {
            let addr = *v6.addr();
            if addr.is_unicast_link_local() {
                let scope = v6.scope_id().index;
                (scope != 0).then(|| SocketAddr::V6(SocketAddrV6::new(addr, port, 0, scope)))
            } else {
                Some(SocketAddr::new(IpAddr::V6(addr), port))
            }
        }
        _ => None,
    }
}

impl<D: Dialer> Dialers<D> {
    fn new(network: Arc<D>, own: String) -> Self {
        Dialers {
            network,
            own,
            tasks: JoinSet::new(),
            by_name: HashMap::new(),
        }
    }

    fn handle(&mut self, event: ServiceEvent) {
        // Reap finished dialers (they only end by abort) so the set does not grow.
        while self.tasks.try_join_next().is_some() {}
        match event {
            ServiceEvent::ServiceResolved(service) => {
                if service.fullname == self.own || service.port == 0 {
                    return;
                }
                let mut addrs: Vec<SocketAddr> = service
                    .addresses
                    .iter()
                    .filter_map(|ip| socket_addr(ip, service.port))
                    .filter(|a| !a.ip().is_unspecified() && !a.ip().is_multicast())
                    .collect();
                // IPv4 first: on a hotspot it is the address everyone shares.
                addrs.sort_by_key(|a| (a.is_ipv6(), *a));
                addrs.truncate(MAX_ADDRESSES_PER_INSTANCE);
                if addrs.is_empty() {
                    return;
                }
                if let Some((_, tx)) = self.by_name.get(&service.fullname) {
                    tx.send_replace(addrs);
                    return;
                }
                if self.by_name.len() >= MAX_DISCOVERED_INSTANCES {
                    tracing::info!("too many discovered peers: one ignored");
                    return;
                }
                let (tx, rx) = watch::channel(addrs);
                let abort = self.tasks.spawn(dial_loop(self.network.clone(), rx));
                self.by_name.insert(service.fullname, (abort, tx));
            }
            ServiceEvent::ServiceRemoved(_, fullname) => {
                if let Some((abort, _)) = self.by_name.remove(&fullname) {
                    abort.abort();
                }
            }
            _ => {}
        }
    }
}

/// Keeps one discovered instance connected: dials its addresses, and once connected waits
/// for the session to end before dialing again. Failures and short sessions back off
/// exponentially from [`RECONNECT_INITIAL_DELAY`] to [`RECONNECT_MAX_DELAY`].
async fn dial_loop<D: Dialer>(network: Arc<D>, addrs: watch::Receiver<Vec<SocketAddr>>) {
    tokio::time::sleep(jitter(FIRST_DIAL_JITTER)).await;
    let mut delay = RECONNECT_INITIAL_DELAY;
    loop {
        while network.is_paused() {
            tokio::time::sleep(CONNECTED_CHECK_INTERVAL).await;
        }
        let current = addrs.borrow().clone();
        let mut reached = None;
        for addr in current {
            match network.connect_discovered(addr).await {
                Ok(device) => {
                    reached = Some(device);
                    break;
                }
                Err(e) => tracing::info!(%addr, "discovered peer not reached: {e}"),
            }
        }
        if let Some(device) = reached {
            if device == network.device_id() {
                tracing::info!("discovered instance is this device: not dialed again");
                return;
            }
            let since = tokio::time::Instant::now();
            while network.is_connected(&device) {
                tokio::time::sleep(CONNECTED_CHECK_INTERVAL).await;
            }
            if since.elapsed() >= STABLE_SESSION {
                delay = RECONNECT_INITIAL_DELAY;
                continue;
            }
        }
        tokio::time::sleep(delay + jitter(delay / 2)).await;
        delay = (delay * 2).min(RECONNECT_MAX_DELAY);
    }
}
