mod backfill;
mod lake;

use crate::cli::{Cli, Command, LakeCommand};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Backfill(args) => backfill::run(*args).await,
        Command::Lake(LakeCommand::Show(args)) => lake::show(args).await,
    }
}
