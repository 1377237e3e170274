//! `intake supplier`: what is kept per supplier, such as its remembered column mapping.

use std::process::ExitCode;

use clap::Subcommand;
use intake::settings::{Secrets, Settings};
use intake::store;

#[derive(Debug, Subcommand)]
pub enum SupplierAction {
    /// The supplier's remembered column mapping (saved by its last list mapped with --map).
    Mapping {
        #[command(subcommand)]
        action: MappingAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum MappingAction {
    /// Print the remembered mapping: field → header text.
    Show {
        /// The supplier's name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Forget the remembered mapping: the supplier's next lists are detected again.
    Forget {
        /// The supplier's name.
        name: String,
    },
}

pub async fn run(settings: &Settings, secrets: &Secrets, action: SupplierAction) -> anyhow::Result<ExitCode> {
    let pool = super::connect_db(settings, secrets).await?;
    let SupplierAction::Mapping { action } = action;
    match action {
        MappingAction::Show { name, json } => {
            let mapping = store::show_mapping(&pool, &name).await?;
            match (mapping, json) {
                (mapping, true) => println!("{}", serde_json::to_string_pretty(&mapping)?),
                (None, false) => println!("supplier {name:?} has no remembered mapping"),
                (Some(m), false) => {
                    let task = m.task_id.map(|t| format!(" by task {t}")).unwrap_or_default();
                    println!(
                        "remembered mapping of {name:?} (saved {} UTC{task}):",
                        m.saved_at.format("%Y-%m-%d %H:%M:%S")
                    );
                    for (field, header) in &m.mapping {
                        println!("  {:<13} {header:?}", field.to_string());
                    }
                }
            }
        }
        MappingAction::Forget { name } => {
            if store::forget_mapping(&pool, &name).await? {
                println!("forgot the remembered mapping of {name:?}");
            } else {
                println!("supplier {name:?} has no remembered mapping");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
