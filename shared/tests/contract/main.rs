//! One contract suite for the storage ports, run against every engine: the embedded engines always,
//! DynamoDB and SQS on the wire endpoint that `infra/test.sh` starts (feature `aws`); with it, the
//! store rules that rest on the engines' transactions and indexes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod apps;
mod link_requests;
mod oauth;
mod portal;
mod push;
mod queue;
mod scim_lookups;
mod secrets;
mod stores;
mod table;

/// Expands every `Secrets` contract case into a `#[tokio::test]` for one engine.
macro_rules! secrets_cases {
    ($make:path) => {
        contract_cases!(@secrets $make;
            kept_secrets_read_back_exactly, a_secret_not_kept_reads_as_none,
            an_unreadable_secret_is_an_error_naming_it_not_its_value);
    };
}

/// Expands every contract case into a `#[tokio::test]` for one engine.
macro_rules! contract_cases {
    ($table:path, $queue:path) => {
        contract_cases!(@table $table;
            get_returns_what_put_stored, conditional_put_conflicts, conditional_delete,
            version_race_has_exactly_one_winner, transaction_is_all_or_nothing,
            transaction_limits_are_enforced, queries_select_by_range_and_order,
            pagination_returns_every_item_once, secondary_indexes_follow_their_keys,
            expired_items_are_invisible, batch_writes_any_count, oversized_items_are_refused);
        contract_cases!(@store $table;
            a_second_connector_for_one_app_is_refused_naming_the_first,
            concurrent_creates_for_one_app_have_one_winner,
            moving_or_deleting_a_connector_frees_its_app,
            the_audit_log_merges_origins_newest_first_and_filters);
        contract_cases!(@push $table;
            outbox_items_settle_only_at_their_version_and_park_with_their_reason,
            pending_outbox_items_are_listed_oldest_first_up_to_a_time,
            pushing_writes_reach_exactly_the_connectors_whose_root_holds_the_entity);
        contract_cases!(@links $table;
            link_requests_are_filed_once_per_account_refreshed_and_listed_by_state,
            approving_a_link_request_writes_its_mapping_and_stale_or_repeated_decisions_conflict);
        contract_cases!(@oauth $table;
            scim_clients_are_listed_read_and_written_by_version,
            one_signing_key_however_many_make_it_at_once,
            a_rotation_is_promoted_once_however_many_sign_at_its_time,
            failure_counters_block_at_their_limit);
        contract_cases!(@apps $table;
            apps_are_found_by_client_id_listed_in_pages_and_written_by_version);
        contract_cases!(@portal $table;
            a_code_is_redeemed_once_and_its_replay_revokes_the_grant,
            sessions_are_found_by_their_cookie_until_ended,
            a_login_state_is_taken_once_however_many_race_for_it,
            a_dingtalk_user_is_bound_to_one_account_and_unbound_by_it);
        contract_cases!(@scim $table;
            units_are_found_by_name_and_external_id_through_renames_and_deletes,
            accounts_are_found_by_external_id_which_is_unique);
        contract_cases!(@queue $queue;
            sent_messages_arrive_once_acked, order_is_kept_within_a_group,
            duplicates_by_dedup_id_are_dropped, unacked_messages_come_back_after_the_visibility_timeout,
            released_messages_are_visible_again, messages_dead_letter_after_max_receives);
    };
    (@table $make:path; $($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let fixture = $make().await;
            crate::table::$case(fixture.table.clone()).await;
        }
    )*};
    (@store $make:path; $($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let fixture = $make().await;
            crate::stores::$case(fixture.table.clone()).await;
        }
    )*};
    (@push $make:path; $($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let fixture = $make().await;
            crate::push::$case(fixture.table.clone()).await;
        }
    )*};
    (@portal $make:path; $($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let fixture = $make().await;
            crate::portal::$case(fixture.table.clone()).await;
        }
    )*};
    (@scim $make:path; $($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let fixture = $make().await;
            crate::scim_lookups::$case(fixture.table.clone()).await;
        }
    )*};
    (@apps $make:path; $($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let fixture = $make().await;
            crate::apps::$case(fixture.table.clone()).await;
        }
    )*};
    (@links $make:path; $($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let fixture = $make().await;
            crate::link_requests::$case(fixture.table.clone()).await;
        }
    )*};
    (@oauth $make:path; $($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let fixture = $make().await;
            crate::oauth::$case(fixture.table.clone()).await;
        }
    )*};
    (@secrets $make:path; $($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            crate::secrets::$case($make).await;
        }
    )*};
    (@queue $make:path; $($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let fixture = $make().await;
            crate::queue::$case(fixture.queue()).await;
        }
    )*};
}

mod embedded {
    use std::sync::Arc;
    use std::time::Duration;

    use dingbridge::adapters::embedded::{EmbeddedStore, QueueSettings};
    use dingbridge::ports::{SystemClock, Table};

    use crate::queue::{MAX_RECEIVES, QueueUnderTest};

    pub struct Fixture {
        pub table: Arc<dyn Table>,
        store: EmbeddedStore,
        _dir: tempfile::TempDir,
    }

    impl Fixture {
        pub fn queue(&self) -> QueueUnderTest {
            let settings = QueueSettings {
                max_receives: MAX_RECEIVES,
                dedup_window: Duration::from_secs(300),
            };
            let q = Arc::new(
                self.store
                    .queue("contract", settings, Arc::new(SystemClock)),
            );
            QueueUnderTest {
                queue: q.clone(),
                consumer: q,
            }
        }
    }

    pub async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        Fixture {
            table: Arc::new(store.table(Arc::new(SystemClock))),
            store,
            _dir: dir,
        }
    }

    contract_cases!(fixture, fixture);

    /// Secrets kept as files of a fresh data directory; an unreadable one is a directory in the
    /// file's place. The directory lives as long as the process (the cases are short).
    async fn secrets(setup: crate::secrets::Setup) -> Arc<dyn dingbridge::ports::Secrets> {
        use dingbridge::adapters::embedded::DirSecrets;
        let dir = tempfile::tempdir().unwrap().keep();
        let secrets = DirSecrets::new(&dir);
        for (which, value) in setup.kept {
            std::fs::write(secrets.path(which), value).unwrap();
        }
        for which in setup.unreadable {
            std::fs::create_dir(secrets.path(which)).unwrap();
        }
        Arc::new(secrets)
    }

    secrets_cases!(secrets);
}

#[cfg(feature = "aws")]
mod aws;
