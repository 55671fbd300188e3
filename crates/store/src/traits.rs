//! What Strata stores about environments, as one narrow trait per kind of item, combined
//! into [`Store`]: handlers bound on `Store`, a backend implements each part.

use std::future::Future;

use strata_core::{Component, ComponentStatus, Environment, EnvironmentStatus, Event};

use crate::{
    DueSync, EnvironmentRead, EnvironmentSummary, Lease, Page, Result, SpecWrites, StoreError,
    StoredSpec, SyncRecord, SyncView, Versioned,
};

/// What every store call answers: a `Send` future of its [`Result`] (named once, so that
/// each method's signature says only what it answers).
pub trait StoreFuture<T>: Future<Output = Result<T>> + Send {}

impl<T, F: Future<Output = Result<T>> + Send> StoreFuture<T> for F {}

/// What Strata stores about environments: every narrow store trait ([`ViewStore`] builds on
/// [`SpecStore`], [`StatusStore`], [`LeaseStore`] and [`SyncStore`], [`ApplyStore`] on
/// [`ImageIndexStore`] too), named once here through those that build on the rest. Time is
/// passed in (seconds since the epoch) so that leases and history are testable.
pub trait Store: ViewStore + HistoryStore + ApplyStore {}

impl<T: ViewStore + HistoryStore + ApplyStore> Store for T {}

/// The specs, and the listing of environments by name.
pub trait SpecStore: Send + Sync {
    fn get_spec(&self, name: &str) -> impl StoreFuture<Option<StoredSpec>>;

    /// Writes `environment` over `previous` (what the caller read; `None` for a new one).
    /// The generation goes up only when the content changes; an unchanged spec writes nothing.
    fn put_spec(
        &self,
        environment: &Environment,
        previous: Option<&StoredSpec>,
        now: u64,
    ) -> impl StoreFuture<StoredSpec>;

    /// By name.
    fn list(&self, limit: u32, cursor: Option<&str>) -> impl StoreFuture<Page<EnvironmentSummary>>;
}

/// The environment's status and each component's.
pub trait StatusStore: Send + Sync {
    /// The status with every component's status assembled in.
    fn get_status(&self, name: &str) -> impl StoreFuture<Option<Versioned<EnvironmentStatus>>>;

    /// Writes the environment-level status; its `components` are stored by
    /// [`StatusStore::put_component`] and ignored here.
    fn put_status(
        &self,
        name: &str,
        status: &EnvironmentStatus,
        previous_version: Option<u64>,
    ) -> impl StoreFuture<u64>;

    fn get_component(
        &self,
        name: &str,
        component: Component,
    ) -> impl StoreFuture<Option<Versioned<ComponentStatus>>>;

    fn put_component(
        &self,
        name: &str,
        component: Component,
        status: &ComponentStatus,
        previous_version: Option<u64>,
    ) -> impl StoreFuture<u64>;
}

/// Reads of several items at once, for the readers that want them together.
pub trait ViewStore: SpecStore + StatusStore + LeaseStore + SyncStore {
    /// The spec, the status and the lease held at `now`, and whether the schedule exists, for
    /// a reader that wants them together (`GET /environments/{name}`, an apply). DynamoDB
    /// reads them in one query.
    fn read(&self, name: &str, now: u64) -> impl StoreFuture<EnvironmentRead> {
        async move {
            let (spec, status, lease, sync) = tokio::try_join!(
                self.get_spec(name),
                self.get_status(name),
                self.lease(name, now),
                self.get_sync(name)
            )?;
            Ok(EnvironmentRead {
                spec,
                status,
                lease,
                scheduled: sync.is_some(),
            })
        }
    }

    /// The spec, state and lease of `name` in one call (a sync's whole view of an unchanged
    /// environment).
    fn sync_view(&self, name: &str, now: u64) -> impl StoreFuture<SyncView>;
}

/// The environment's history, append-only.
pub trait HistoryStore: Send + Sync {
    fn append_event(&self, name: &str, event: &Event) -> impl StoreFuture<()>;

    /// Newest first.
    fn history(
        &self,
        name: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> impl StoreFuture<Page<Event>>;
}

/// The lease lock: who runs an operation on an environment, until when.
pub trait LeaseStore: Send + Sync {
    /// Takes the lease when it is free, expired, or already `holder`'s (a retried step).
    fn acquire(&self, name: &str, holder: &str, ttl_secs: u64, now: u64)
    -> impl StoreFuture<Lease>;

    /// The lease held now (unexpired at `now`), if any: who runs an operation on `name`.
    fn lease(&self, name: &str, now: u64) -> impl StoreFuture<Option<Lease>>;

    /// Gives the lease back; only its holder may. Releasing a lease nobody holds is a no-op,
    /// so a retried release converges.
    fn release(&self, name: &str, holder: &str) -> impl StoreFuture<()>;
}

/// The sync schedule of each environment, and what is due.
pub trait SyncStore: Send + Sync {
    fn get_sync(&self, name: &str) -> impl StoreFuture<Option<Versioned<SyncRecord>>>;

    /// A versioned write of the schedule (`None`: it must not exist yet). A sync run claims an
    /// environment by writing its record over the version it found due: of two overlapping
    /// runs, exactly one wins.
    fn put_sync(
        &self,
        name: &str,
        record: &SyncRecord,
        previous_version: Option<u64>,
    ) -> impl StoreFuture<u64>;

    fn delete_sync(&self, name: &str) -> impl StoreFuture<()>;

    /// The environments whose sync is due at `now`, earliest first; the cursor is opaque.
    fn due(&self, now: u64, limit: u32, cursor: Option<&str>) -> impl StoreFuture<Page<DueSync>>;
}

/// Which environments use which image (the index an ECR push reads).
pub trait ImageIndexStore: Send + Sync {
    /// Points the image index at `name` for each of `images` and away from each of
    /// `dropped` (images its previous spec used and this one does not). Idempotent.
    fn index_images(&self, name: &str, images: &[&str], dropped: &[&str]) -> impl StoreFuture<()>;

    /// The environments whose spec uses `image` (the index an ECR push reads), by name.
    fn environments_using(&self, image: &str) -> impl StoreFuture<Vec<String>>;
}

/// An apply's writes: the spec with what goes beside it ([`SpecWrites`]).
pub trait ApplyStore: SpecStore + SyncStore + ImageIndexStore {
    /// Stores `environment` over `previous` as [`SpecStore::put_spec`] does, and `with`.
    /// The spec's condition decides: when it fails (`StaleVersion`), nothing of `with` is
    /// written either where the backend writes them together (DynamoDB: one transaction).
    fn put_spec_with(
        &self,
        environment: &Environment,
        previous: Option<&StoredSpec>,
        now: u64,
        with: &SpecWrites,
    ) -> impl StoreFuture<StoredSpec> {
        async move {
            let stored = self.put_spec(environment, previous, now).await?;
            write_beside(self, environment.name(), with).await?;
            Ok(stored)
        }
    }
}

/// `with`, one write at a time: the schedule unless one exists, then the index.
pub(crate) async fn write_beside<S: SyncStore + ImageIndexStore + ?Sized>(
    store: &S,
    name: &str,
    with: &SpecWrites,
) -> Result<()> {
    if let Some(record) = &with.schedule {
        make_schedule(store, name, record).await?;
    }
    if !with.index.is_empty() || !with.unindex.is_empty() {
        let index: Vec<&str> = with.index.iter().map(String::as_str).collect();
        let unindex: Vec<&str> = with.unindex.iter().map(String::as_str).collect();
        store.index_images(name, &index, &unindex).await?;
    }
    Ok(())
}

/// Makes `name`'s sync schedule unless it has one: created now (the TTL's origin), first due
/// one `every_secs` later. A concurrent maker wins harmlessly.
pub async fn ensure_scheduled<S: Store>(
    store: &S,
    name: &str,
    now: u64,
    every_secs: u64,
) -> Result<()> {
    if store.get_sync(name).await?.is_some() {
        return Ok(());
    }
    make_schedule(store, name, &SyncRecord::new(now, now + every_secs)).await
}

/// Writes `record` as `name`'s first schedule; one that exists already (a concurrent maker
/// won) is kept.
async fn make_schedule<S: SyncStore + ?Sized>(
    store: &S,
    name: &str,
    record: &SyncRecord,
) -> Result<()> {
    match store.put_sync(name, record, None).await {
        Ok(_) | Err(StoreError::StaleVersion { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
