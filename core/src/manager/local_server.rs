//! Starting the device's local map and media server: the manager hands the server its map
//! store and the projects whose media may be served (joined ones, not left or damaged). The
//! server knows nothing of the manager; the edge goes from here to it.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Weak};

use super::{Manager, ProjectStatus};
use crate::ids::ProjectId;
use crate::project::Project;
use crate::server::{LocalServer, ProjectMedia, ServerError};

/// The projects of a device whose media the server may serve, asked on every request.
struct ServedProjects(Weak<Manager>);

impl ProjectMedia for ServedProjects {
    fn project(&self, id: &ProjectId) -> Option<Arc<Project>> {
        let manager = self.0.upgrade()?;
        match manager.project_row(id) {
            Ok(Some((_, ProjectStatus::Joined | ProjectStatus::Joining, _))) => {
                manager.open_project(id).ok().filter(|p| !p.is_damaged())
            }
            _ => None,
        }
    }
}

impl Manager {
    /// The device's local server on `127.0.0.1` (a free port), started on first call and
    /// the same one afterwards until [`Manager::close`]. Must be called within a tokio
    /// runtime.
    pub async fn local_server(self: &Arc<Self>) -> Result<Arc<LocalServer>, ServerError> {
        let mut slot = self.local_server.lock().await;
        if let Some(server) = &*slot {
            return Ok(server.clone());
        }
        let server = Arc::new(
            self.serve_http(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
                .await?,
        );
        *slot = Some(server.clone());
        Ok(server)
    }

    /// A separate server on an address the caller picks (the desktop peer's `serve --http`),
    /// with its own secret; it stops when dropped.
    pub async fn serve_http(
        self: &Arc<Self>,
        addr: SocketAddr,
    ) -> Result<LocalServer, ServerError> {
        let media = Arc::new(ServedProjects(Arc::downgrade(self)));
        LocalServer::start(addr, self.maps()?, media).await
    }

    /// Stops the server [`Manager::local_server`] started, if any.
    pub(super) async fn stop_local_server(&self) {
        let server = self.local_server.lock().await.take();
        if let Some(server) = server {
            server.stop().await;
        }
    }
}
