//! The devnet's deterministic gas schedule.
//!
//! Sui meters Move bytecode; the devnet executes natively, so it charges a
//! fixed computation cost per transaction and per command instead, plus the
//! Sui storage model: every written object pays for its BCS size and carries
//! that amount as its `storage_rebate`, which is refunded when the object is
//! mutated again or deleted. The table lives in `contracts/devnet/README.md`.

use sui_sdk_types::GasCostSummary;

/// Reference gas price of epoch 0, in MIST per computation unit.
pub const REFERENCE_GAS_PRICE: u64 = 1_000;

/// Computation units charged once per transaction.
pub const BASE_COMPUTATION_UNITS: u64 = 1_000;

/// Computation units charged per PTB command.
pub const COMMAND_COMPUTATION_UNITS: u64 = 1_000;

/// Storage cost in MIST per byte of a written object (Sui's storage gas price
/// of 76 times 100 storage units per byte).
pub const STORAGE_COST_PER_BYTE: u64 = 7_600;

/// Smallest gas budget accepted: the base computation cost at the reference
/// gas price.
pub const MIN_GAS_BUDGET: u64 = BASE_COMPUTATION_UNITS * REFERENCE_GAS_PRICE;

/// Largest gas budget accepted (50 SUI, as on Sui).
pub const MAX_GAS_BUDGET: u64 = 50_000_000_000;

/// Computation cost in MIST of a transaction with `commands` commands at
/// `gas_price`.
pub fn computation_cost(commands: usize, gas_price: u64) -> u64 {
    let units = BASE_COMPUTATION_UNITS
        .saturating_add(COMMAND_COMPUTATION_UNITS.saturating_mul(commands as u64));
    units.saturating_mul(gas_price)
}

/// Storage cost in MIST of an object whose BCS encoding is `bytes` long.
pub fn storage_cost(bytes: usize) -> u64 {
    (bytes as u64).saturating_mul(STORAGE_COST_PER_BYTE)
}

/// Gas charged for a transaction, before it is applied to the gas coin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GasCharge {
    /// Fixed computation cost.
    pub computation: u64,
    /// Storage cost of every written object.
    pub storage: u64,
    /// Storage rebate of every mutated or deleted input object.
    pub rebate: u64,
}

impl GasCharge {
    /// Cost that counts against the budget (computation plus storage; the
    /// rebate is paid back afterwards, as on Sui).
    pub fn budget_cost(&self) -> u64 {
        self.computation.saturating_add(self.storage)
    }

    /// The `GasCostSummary` recorded in the effects. The devnet refunds the
    /// whole rebate, so the non-refundable fee is zero.
    pub fn summary(&self) -> GasCostSummary {
        GasCostSummary::new(self.computation, self.storage, self.rebate, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computation_scales_with_commands_and_price() {
        assert_eq!(computation_cost(0, 1_000), 1_000_000);
        assert_eq!(computation_cost(2, 1_000), 3_000_000);
        assert_eq!(computation_cost(2, 2_000), 6_000_000);
    }

    #[test]
    fn budget_cost_ignores_rebate() {
        let charge = GasCharge {
            computation: 10,
            storage: 5,
            rebate: 100,
        };
        assert_eq!(charge.budget_cost(), 15);
        assert_eq!(charge.summary().gas_used(), 15);
    }
}
