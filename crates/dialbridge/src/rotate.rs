//! `dialbridge rotate-master-key`: seals every secret of the database again under a new
//! master key, while the servers keep running with both keys. The procedure: restart every
//! server with `--master-key NEW --previous-master-key OLD`, run this with the same two keys,
//! then restart the servers with `--master-key NEW` alone.

use clap::Args;
use dialbridge_core::{rotate_master_key, MasterKey};
use dialbridge_storage::Database;

#[derive(Args)]
pub struct RotateCommand {
    /// The database whose secrets to re-encrypt.
    #[arg(
        long,
        env = "DIALBRIDGE_DATABASE_URL",
        default_value = "sqlite://dialbridge-data/dialbridge.db"
    )]
    database_url: String,
    /// The new master key (64 hex characters or base64 of 32 bytes, e.g. from
    /// `openssl rand -hex 32`).
    #[arg(long, env = "DIALBRIDGE_MASTER_KEY", hide_env_values = true)]
    master_key: String,
    /// The master key the secrets are sealed under now.
    #[arg(long, env = "DIALBRIDGE_PREVIOUS_MASTER_KEY", hide_env_values = true)]
    previous_master_key: String,
    /// Secrets re-encrypted per transaction.
    #[arg(long, default_value_t = 100)]
    batch_size: u32,
}

pub async fn run(command: RotateCommand) -> Result<(), String> {
    let new = MasterKey::parse(&command.master_key).map_err(|e| format!("--master-key: {e}"))?;
    let previous = MasterKey::parse(&command.previous_master_key)
        .map_err(|e| format!("--previous-master-key: {e}"))?;
    let db = Database::connect(&command.database_url)
        .await
        .map_err(|e| e.to_string())?;
    db.migrate().await.map_err(|e| e.to_string())?;
    let rotated = rotate_master_key(&db, &previous, &new, command.batch_size).await;
    db.close().await;
    let report = rotated.map_err(|e| e.to_string())?;
    println!("{report}");
    println!(
        "Every secret is now sealed under the new master key: restart the servers with \
         --master-key set to it and without --previous-master-key."
    );
    Ok(())
}
