//! The queries of `revocations` (migration `m20261206_000005_revocations`).

use sea_orm::{
    ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entities::revocation;
use crate::error::StorageError;

pub use crate::entities::revocation::Model as Revocation;
pub use crate::migration::m20261206_000005_revocations::MAX_SUBJECT_BYTES;

/// The revocations table of one database.
#[derive(Clone, Debug)]
pub struct RevocationLog {
    db: DatabaseConnection,
}

impl RevocationLog {
    pub fn new(db: DatabaseConnection) -> RevocationLog {
        RevocationLog { db }
    }

    /// Revokes `subject`'s tokens issued before now (the database's clock).
    pub async fn revoke(
        &self,
        subject: &str,
        reason: Option<&str>,
    ) -> Result<Revocation, StorageError> {
        let row = revocation::ActiveModel {
            id: ActiveValue::NotSet,
            subject: ActiveValue::Set(subject.to_owned()),
            revoked_at_ms: ActiveValue::NotSet,
            reason: ActiveValue::Set(reason.map(str::to_owned)),
        };
        let inserted = revocation::Entity::insert(row)
            .exec_with_returning(&self.db)
            .await?;
        Ok(inserted)
    }

    /// Every revoked subject with its latest revocation time.
    pub async fn latest(&self) -> Result<Vec<(String, i64)>, StorageError> {
        let rows: Vec<(String, i64)> = revocation::Entity::find()
            .select_only()
            .column(revocation::Column::Subject)
            .column_as(revocation::Column::RevokedAtMs.max(), "latest")
            .group_by(revocation::Column::Subject)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows)
    }

    /// The revocations after `id`, in order (the SQLite watch's read).
    pub async fn after(&self, id: i64) -> Result<Vec<Revocation>, StorageError> {
        Ok(revocation::Entity::find()
            .filter(revocation::Column::Id.gt(id))
            .order_by_asc(revocation::Column::Id)
            .all(&self.db)
            .await?)
    }

    /// The highest id so far (0 if none).
    pub async fn last_id(&self) -> Result<i64, StorageError> {
        let last: Option<Option<i64>> = revocation::Entity::find()
            .select_only()
            .column_as(revocation::Column::Id.max(), "last")
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(last.flatten().unwrap_or(0))
    }
}
