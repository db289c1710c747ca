//! SCIM end to end: a client made in the admin API takes a token from `/oauth/token`, provisions
//! users and groups over `/scim/v2`, and the push carries them into the simulated DingTalk — on
//! both engine pairs (`flows`); and the independent checkers (`scim2-cli`, `scim-sanity`) run
//! against the local runner (`checkers`).

mod checkers;
mod flows;

macro_rules! on_engine {
    ($engine:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_scim_user_with_a_mobile_reaches_dingtalk_in_its_departments() {
            crate::scim::flows::a_scim_user_with_a_mobile_reaches_dingtalk_in_its_departments(
                $engine,
            )
            .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_scim_user_without_a_usable_mobile_is_stored_and_its_push_parked() {
            crate::scim::flows::a_scim_user_without_a_usable_mobile_is_stored_and_its_push_parked(
                $engine,
            )
            .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_group_tree_made_over_scim_becomes_departments_in_order() {
            crate::scim::flows::a_group_tree_made_over_scim_becomes_departments_in_order($engine)
                .await;
        }
    };
}

mod embedded {
    on_engine!(crate::system::Engine::Embedded);
}

#[cfg(feature = "aws")]
mod aws {
    on_engine!(crate::system::Engine::Aws);
}
