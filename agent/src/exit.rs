//! The agent's exit statuses, distinct so that systemd
//! (`RestartPreventExitStatus=`) and operators can tell why it stopped.
//!
//! | status | meaning | restarted by the unit |
//! |---|---|---|
//! | 0 | stopped by SIGTERM / Ctrl-C (the runtime was stopped) | yes |
//! | 1 | a failure that may pass (chain or master unreachable, …) | yes |
//! | 2 | bad command line | no |
//! | 10 | **revoked**: the chain no longer backs the node (unstaked, slashed, expired, understaked, token gone); the runtime was stopped | no |
//! | 11 | the master was refused: its attestation or PCRs do not match | no |
//! | 12 | the node left: unstaked and withdrawn (`daas-agent unstake`) | no |
//! | 78 | bad configuration, wallet or state file (`EX_CONFIG`) | no |

use std::process::ExitCode;

/// Why the agent exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Stopped by a signal.
    Stopped,
    /// A failure that may pass.
    Failed,
    /// The chain revoked the node.
    Revoked,
    /// The master's attestation was refused.
    MasterRefused,
    /// Unstaked and withdrawn.
    Left,
    /// Bad configuration, wallet or state.
    Config,
}

impl Exit {
    /// The process exit status.
    pub const fn code(self) -> u8 {
        match self {
            Self::Stopped => 0,
            Self::Failed => 1,
            Self::Revoked => 10,
            Self::MasterRefused => 11,
            Self::Left => 12,
            Self::Config => 78,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_distinct_and_documented() {
        let all = [
            Exit::Stopped,
            Exit::Failed,
            Exit::Revoked,
            Exit::MasterRefused,
            Exit::Left,
            Exit::Config,
        ];
        let codes: std::collections::BTreeSet<u8> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
        let unit = include_str!("../../deploy/worker/daas-agent.service");
        for exit in [Exit::Revoked, Exit::MasterRefused, Exit::Left, Exit::Config] {
            let line = unit
                .lines()
                .find(|l| l.starts_with("RestartPreventExitStatus="))
                .unwrap_or_default();
            assert!(
                line.split(['=', ' ']).any(|c| c == exit.code().to_string()),
                "{exit:?} is restarted by the unit"
            );
        }
    }
}
