//! [`Project`], one project as the app holds it: settings, roles, and create/read/update/delete
//! and queries of observations, tracks, presets and fields. Members (`invites.rs`) and
//! attachments (`attachments.rs`) add exported `impl Project` blocks in files of their own.
//! Every method is a core call and a conversion.

use std::sync::Arc;

use mapeo_core::schema::{DocType, DocValue};
use mapeo_core::sync::Replica;

use crate::documents::{
    Field, FieldDoc, Observation, ObservationDoc, Preset, PresetDoc, Query, Track, TrackDoc,
    convert_all, doc_id, version_ids,
};
use crate::error::MapeoError;
use crate::listen::{RoleListener, TaskHandle, subscribe, upgrade};
use crate::records::{AssignableRole, ProjectSettings, Role, device_id};

/// A project this device has joined or left. Get it from `Mapeo`; many handles to one
/// project share its stores.
#[derive(uniffi::Object)]
pub struct Project {
    pub(crate) inner: Arc<mapeo_core::Project>,
}

impl Project {
    pub(crate) fn wrap(inner: Arc<mapeo_core::Project>) -> Arc<Self> {
        Arc::new(Project { inner })
    }
}

#[uniffi::export]
impl Project {
    /// The project's id (64 hex characters).
    pub fn project_id(&self) -> String {
        self.inner.id().to_string()
    }

    /// The device that created the project.
    pub fn creator_id(&self) -> String {
        self.inner.creator().to_string()
    }

    /// The project's name, description and color (empty until synced, for a new member).
    pub fn settings(&self) -> Result<ProjectSettings, MapeoError> {
        Ok(self.inner.settings()?.into())
    }

    /// Replaces the project's settings.
    pub fn set_settings(&self, settings: ProjectSettings) -> Result<(), MapeoError> {
        self.inner.set_settings(settings.into())?;
        Ok(())
    }

    /// A device's role in this project, as this device knows it.
    pub fn role(&self, device_id: String) -> Result<Role, MapeoError> {
        Ok(self.inner.role(&self::device_id(&device_id)?)?.into())
    }

    /// This device's own role in this project.
    pub fn own_role(&self) -> Result<Role, MapeoError> {
        Ok(self.inner.role(&self.inner.device_id())?.into())
    }

    /// Gives another device a role. Only the creator and coordinators may (`NotAllowed`).
    pub fn assign_role(&self, device_id: String, role: AssignableRole) -> Result<(), MapeoError> {
        self.inner
            .assign_role(&self::device_id(&device_id)?, role.role(), None)?;
        Ok(())
    }

    /// Calls `listener` with this device's own role now, then whenever it changes (made
    /// coordinator, blocked…). Keep the handle: the subscription ends when it is cancelled or
    /// dropped.
    pub fn subscribe_own_role(
        &self,
        listener: Arc<dyn RoleListener>,
    ) -> Result<Arc<TaskHandle>, MapeoError> {
        let p = Arc::downgrade(&self.inner);
        subscribe(
            self.inner.changes(),
            move || {
                let p = upgrade(&p)?;
                Ok(p.role(&p.device_id())?.into())
            },
            move |role: Role| listener.on_role(role),
        )
    }

    // ---- observations ----------------------------------------------------------------------

    /// Creates an observation.
    pub fn create_observation(&self, value: Observation) -> Result<ObservationDoc, MapeoError> {
        self.inner.create(DocValue::try_from(value)?)?.try_into()
    }

    /// Writes a new version of the observation whose current versions are `links` (the
    /// `meta.version_id` of what was edited, and of any forks merged).
    pub fn update_observation(
        &self,
        links: Vec<String>,
        value: Observation,
    ) -> Result<ObservationDoc, MapeoError> {
        self.inner
            .update(&version_ids(&links)?, DocValue::try_from(value)?)?
            .try_into()
    }

    /// Deletes an observation; returns the deletion (its `meta.deleted` is true).
    pub fn delete_observation(&self, doc_id: String) -> Result<ObservationDoc, MapeoError> {
        self.inner
            .delete_of_type(&self::doc_id(&doc_id)?, DocType::Observation)?
            .try_into()
    }

    /// The current version of an observation (`NotFound` if deleted or not an observation).
    pub fn get_observation(&self, doc_id: String) -> Result<ObservationDoc, MapeoError> {
        self.inner.get(&self::doc_id(&doc_id)?)?.try_into()
    }

    /// Observations matching `query`, newest first.
    pub fn list_observations(&self, query: Query) -> Result<Vec<ObservationDoc>, MapeoError> {
        convert_all(self.inner.list(&query.to_core(DocType::Observation)?)?)
    }

    // ---- tracks ----------------------------------------------------------------------------

    /// Creates a track.
    pub fn create_track(&self, value: Track) -> Result<TrackDoc, MapeoError> {
        self.inner.create(DocValue::try_from(value)?)?.try_into()
    }

    /// Writes a new version of the track whose current versions are `links`.
    pub fn update_track(&self, links: Vec<String>, value: Track) -> Result<TrackDoc, MapeoError> {
        self.inner
            .update(&version_ids(&links)?, DocValue::try_from(value)?)?
            .try_into()
    }

    /// Deletes a track; returns the deletion.
    pub fn delete_track(&self, doc_id: String) -> Result<TrackDoc, MapeoError> {
        self.inner
            .delete_of_type(&self::doc_id(&doc_id)?, DocType::Track)?
            .try_into()
    }

    /// The current version of a track.
    pub fn get_track(&self, doc_id: String) -> Result<TrackDoc, MapeoError> {
        self.inner.get(&self::doc_id(&doc_id)?)?.try_into()
    }

    /// Tracks matching `query`, newest first (area and text filters apply to observations
    /// only).
    pub fn list_tracks(&self, query: Query) -> Result<Vec<TrackDoc>, MapeoError> {
        convert_all(self.inner.list(&query.to_core(DocType::Track)?)?)
    }

    // ---- presets ---------------------------------------------------------------------------

    /// Creates a preset.
    pub fn create_preset(&self, value: Preset) -> Result<PresetDoc, MapeoError> {
        self.inner.create(DocValue::try_from(value)?)?.try_into()
    }

    /// Writes a new version of the preset whose current versions are `links`.
    pub fn update_preset(
        &self,
        links: Vec<String>,
        value: Preset,
    ) -> Result<PresetDoc, MapeoError> {
        self.inner
            .update(&version_ids(&links)?, DocValue::try_from(value)?)?
            .try_into()
    }

    /// Deletes a preset; returns the deletion.
    pub fn delete_preset(&self, doc_id: String) -> Result<PresetDoc, MapeoError> {
        self.inner
            .delete_of_type(&self::doc_id(&doc_id)?, DocType::Preset)?
            .try_into()
    }

    /// The current version of a preset.
    pub fn get_preset(&self, doc_id: String) -> Result<PresetDoc, MapeoError> {
        self.inner.get(&self::doc_id(&doc_id)?)?.try_into()
    }

    /// Presets matching `query`, newest first.
    pub fn list_presets(&self, query: Query) -> Result<Vec<PresetDoc>, MapeoError> {
        convert_all(self.inner.list(&query.to_core(DocType::Preset)?)?)
    }

    // ---- fields ----------------------------------------------------------------------------

    /// Creates a field.
    pub fn create_field(&self, value: Field) -> Result<FieldDoc, MapeoError> {
        self.inner.create(value.into())?.try_into()
    }

    /// Writes a new version of the field whose current versions are `links`.
    pub fn update_field(&self, links: Vec<String>, value: Field) -> Result<FieldDoc, MapeoError> {
        self.inner
            .update(&version_ids(&links)?, value.into())?
            .try_into()
    }

    /// Deletes a field; returns the deletion.
    pub fn delete_field(&self, doc_id: String) -> Result<FieldDoc, MapeoError> {
        self.inner
            .delete_of_type(&self::doc_id(&doc_id)?, DocType::Field)?
            .try_into()
    }

    /// The current version of a field.
    pub fn get_field(&self, doc_id: String) -> Result<FieldDoc, MapeoError> {
        self.inner.get(&self::doc_id(&doc_id)?)?.try_into()
    }

    /// Fields matching `query`, newest first.
    pub fn list_fields(&self, query: Query) -> Result<Vec<FieldDoc>, MapeoError> {
        convert_all(self.inner.list(&query.to_core(DocType::Field)?)?)
    }
}
