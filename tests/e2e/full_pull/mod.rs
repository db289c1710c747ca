//! The full pull's deep cases, through the admin API against the simulator over HTTP, on the
//! embedded engines and on DynamoDB + SQS (moto): pull, review, confirm, auto mode and its guard, partial snapshots, resumes after a kill,
//! the schedule, stale reviews, DingTalk out of reach, progress while walking, oversized values.

/// One test per engine for each case (an `async fn(Engine)` of the calling module):
/// `embedded::<case>`, and `aws::<case>` with the `aws` feature.
macro_rules! on_engines {
    ($($case:ident),+ $(,)?) => {
        on_engines!(@mod embedded, Embedded, $($case),+);
        #[cfg(feature = "aws")]
        on_engines!(@mod aws, Aws, $($case),+);
    };
    (@mod $module:ident, $engine:ident, $($case:ident),+) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::full_pull::support::Engine::$engine).await;
                }
            )+
        }
    };
}

mod auto;
mod oversized;
mod partial;
mod progress;
mod resume;
mod review;
mod schedule;
mod snapshot;
mod stuck;
mod support;
mod unreachable;
