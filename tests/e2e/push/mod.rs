//! The outbound push end to end: directory writes through the admin API reach the simulated
//! DingTalk over HTTP via the outbox, the push queue and the push worker, on the local runner
//! (`local`) and on both engine pairs (`build`, `changes`, `faults`), with the connector's
//! callbacks registered so that what our pushes trigger comes back through the inbound sync.

mod build;
mod changes;
mod faults;
mod local;
pub(crate) mod support;
mod sweep;

macro_rules! on_engine {
    ($engine:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_pushed_subtree_of_200_accounts_reaches_dingtalk_and_its_callbacks_add_no_account()
         {
            crate::push::build::a_pushed_subtree_of_200_accounts_reaches_dingtalk_and_its_callbacks_add_no_account($engine).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn renames_moves_memberships_disables_and_deletes_follow_under_each_delete_policy()
        {
            crate::push::changes::renames_moves_memberships_disables_and_deletes_follow_under_each_delete_policy($engine).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_user_moved_to_the_holding_department_leaves_its_account_disabled() {
            crate::push::changes::a_user_moved_to_the_holding_department_leaves_its_account_disabled($engine).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_account_without_a_mobile_is_parked_until_it_has_one() {
            crate::push::changes::an_account_without_a_mobile_is_parked_until_it_has_one($engine)
                .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_mobile_dingtalk_already_has_links_the_account_to_that_user() {
            crate::push::changes::a_mobile_dingtalk_already_has_links_the_account_to_that_user(
                $engine,
            )
            .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_create_whose_answer_is_lost_converges_on_one_department_and_one_user() {
            crate::push::faults::a_create_whose_answer_is_lost_converges_on_one_department_and_one_user($engine).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn throttling_bursts_5xx_and_hangs_lose_no_push() {
            crate::push::faults::throttling_bursts_5xx_and_hangs_lose_no_push($engine).await;
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
