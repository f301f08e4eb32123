//! The deployed code of creates whose trace came without it. `trace_block` and geth's call
//! tracer both return a successful create's code (none of the nodes tried omits it), but a node
//! that does would leave `contracts` without bytecode and sighashes: such creates are asked
//! `eth_getCode` at their block, all of a fetch's in one request, and the code goes where the
//! trace would have had it (the create's `output`, as Parity nodes report it).

use alloy_primitives::Bytes;
use serde_json::json;

use crate::error::Result;
use crate::fetched::FetchedBlock;
use crate::rpc::{Call, RpcClient};
use crate::traces::TraceRow;

fn lacks_code(t: &TraceRow) -> bool {
    t.trace_type == "create" && t.status == 1 && t.output.is_none() && t.to_address.is_some()
}

/// Fills in the code of every successful create in `blocks` whose trace has none. A create the
/// node has no code for either keeps none (its contract row's bytecode is `0x`).
pub(crate) async fn fill_missing_code(client: &RpcClient, blocks: &mut [FetchedBlock]) -> Result<()> {
    let mut missing: Vec<&mut TraceRow> = blocks
        .iter_mut()
        .flat_map(|f| f.traces.iter_mut().flatten())
        .filter(|t| lacks_code(t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let calls: Vec<Call> = missing
        .iter()
        .map(|t| Call::new("eth_getCode", json!([t.to_address, format!("{:#x}", t.block_number)])))
        .collect();
    let replies = client.batch_all(&calls).await?;
    tracing::debug!(
        creates = missing.len(),
        "the node's create traces had no code: asked eth_getCode"
    );
    for (t, reply) in missing.iter_mut().zip(replies) {
        let code = reply
            .ok()
            .flatten()
            .and_then(|raw| serde_json::from_str::<Bytes>(raw.get()).ok());
        if let Some(code) = code.filter(|c| !c.is_empty()) {
            t.output = Some(format!("{code:#x}"));
        }
    }
    Ok(())
}
