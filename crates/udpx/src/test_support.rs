//! Shared by the unit tests.

use proptest::test_runner::Config;

/// Property tests run 512 cases (8 under Miri, where each costs a thousand times more), and
/// keep no failure files in the source tree.
pub(crate) fn proptest_config() -> Config {
    Config { cases: if cfg!(miri) { 8 } else { 512 }, failure_persistence: None, ..Config::default() }
}
