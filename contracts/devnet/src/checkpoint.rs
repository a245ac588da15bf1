//! Checkpoints: the devnet seals every executed transaction into its own
//! checkpoint, chained by digest, with the checkpoint's timestamp as the
//! clock's time.

use sui_sdk_types::{
    CheckpointContents, CheckpointSummary, CheckpointTransactionInfo, Digest, GasCostSummary,
    UserSignature,
};

use crate::store::StoredCheckpoint;

/// Builds the checkpoint that follows `previous` and holds one transaction.
pub fn next_checkpoint(
    previous: Option<&StoredCheckpoint>,
    epoch: u64,
    timestamp_ms: u64,
    transaction: Digest,
    effects: Digest,
    signatures: Vec<UserSignature>,
    gas: &GasCostSummary,
) -> StoredCheckpoint {
    let contents = CheckpointContents::new_v1(vec![CheckpointTransactionInfo::new(
        transaction,
        effects,
        signatures,
    )]);
    let (sequence_number, network_total_transactions, previous_digest, rolling) = match previous {
        Some(p) => (
            p.summary.sequence_number + 1,
            p.summary.network_total_transactions + 1,
            Some(p.summary.digest()),
            p.summary.epoch_rolling_gas_cost_summary.clone(),
        ),
        None => (0, 1, None, GasCostSummary::default()),
    };
    let rolling = GasCostSummary::new(
        rolling
            .computation_cost
            .saturating_add(gas.computation_cost),
        rolling.storage_cost.saturating_add(gas.storage_cost),
        rolling.storage_rebate.saturating_add(gas.storage_rebate),
        rolling
            .non_refundable_storage_fee
            .saturating_add(gas.non_refundable_storage_fee),
    );
    let summary = CheckpointSummary {
        epoch,
        sequence_number,
        network_total_transactions,
        content_digest: contents.digest(),
        previous_digest,
        epoch_rolling_gas_cost_summary: rolling,
        timestamp_ms,
        checkpoint_commitments: Vec::new(),
        end_of_epoch_data: None,
        version_specific_data: Vec::new(),
    };
    StoredCheckpoint { summary, contents }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_chain_by_digest() {
        let gas = GasCostSummary::new(1, 2, 3, 0);
        let first = next_checkpoint(None, 0, 10, Digest::ZERO, Digest::ZERO, vec![], &gas);
        assert_eq!(first.summary.sequence_number, 0);
        assert_eq!(first.summary.previous_digest, None);
        let second = next_checkpoint(
            Some(&first),
            0,
            11,
            Digest::ZERO,
            Digest::ZERO,
            vec![],
            &gas,
        );
        assert_eq!(second.summary.sequence_number, 1);
        assert_eq!(second.summary.network_total_transactions, 2);
        assert_eq!(second.summary.previous_digest, Some(first.summary.digest()));
        assert_eq!(
            second
                .summary
                .epoch_rolling_gas_cost_summary
                .computation_cost,
            2
        );
    }
}
