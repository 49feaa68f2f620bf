//! The diesel schema, shared by both backends (see migrations/postgres and migrations/sqlite).

diesel::table! {
    licenses (id) {
        id -> Text,
        name -> Text,
        seats -> BigInt,
        seats_used -> BigInt,
        auto_promote -> Bool,
        provisioning_enabled -> Bool,
        created_at -> Text,
        updated_at -> Text,
        last_scim_request_at -> Nullable<Text>,
        last_test_connection_at -> Nullable<Text>,
        full_reconcile_due -> Bool,
        usage_level -> Integer,
        error_rate_warned -> Bool,
        first_synced_at -> Nullable<Text>,
    }
}

diesel::table! {
    scim_tokens (id) {
        id -> Text,
        license_id -> Text,
        token_hash -> Text,
        created_at -> Text,
        last_used_at -> Nullable<Text>,
        revoked_at -> Nullable<Text>,
    }
}

diesel::table! {
    auth_epoch (id) {
        id -> Integer,
        epoch -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        license_id -> Text,
        user_name -> Text,
        user_name_key -> Text,
        external_id -> Nullable<Text>,
        display_name -> Nullable<Text>,
        display_name_key -> Nullable<Text>,
        active -> Bool,
        document -> Text,
        version -> BigInt,
        created_at -> Text,
        updated_at -> Text,
    }
}

diesel::table! {
    groups (id) {
        id -> Text,
        license_id -> Text,
        display_name -> Text,
        display_name_key -> Text,
        external_id -> Nullable<Text>,
        document -> Text,
        version -> BigInt,
        created_at -> Text,
        updated_at -> Text,
    }
}

diesel::table! {
    group_members (group_id, user_id) {
        group_id -> Text,
        user_id -> Text,
        joined_at -> Text,
        display -> Nullable<Text>,
    }
}

diesel::table! {
    licensed_groups (license_id, group_id) {
        license_id -> Text,
        group_id -> Text,
        created_at -> Text,
        priority -> Integer,
    }
}

diesel::table! {
    seats (license_id, user_id) {
        license_id -> Text,
        user_id -> Text,
        status -> Text,
        since -> Text,
        reason -> Nullable<Text>,
        queued_at -> Text,
        joined_at -> Text,
        priority -> Integer,
        grace_until -> Nullable<Text>,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        license_id -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Text,
        last_error -> Nullable<Text>,
        request_id -> Nullable<Text>,
        created_at -> Text,
        updated_at -> Text,
    }
}

diesel::table! {
    audit (id) {
        id -> BigInt,
        license_id -> Text,
        actor -> Text,
        action -> Text,
        subject -> Nullable<Text>,
        detail -> Nullable<Text>,
        request_id -> Nullable<Text>,
        created_at -> Text,
    }
}

diesel::table! {
    license_admin_keys (id) {
        id -> Text,
        license_id -> Text,
        key_hash -> Text,
        label -> Nullable<Text>,
        created_at -> Text,
        last_used_at -> Nullable<Text>,
        revoked_at -> Nullable<Text>,
    }
}

diesel::table! {
    setup_links (id) {
        id -> Text,
        license_id -> Text,
        token_hash -> Text,
        label -> Nullable<Text>,
        created_at -> Text,
        expires_at -> Text,
        used_at -> Nullable<Text>,
        revoked_at -> Nullable<Text>,
    }
}

diesel::table! {
    feed_events (id) {
        id -> BigInt,
        seq -> Nullable<BigInt>,
        event_id -> Text,
        license_id -> Text,
        event_type -> Text,
        subject -> Nullable<Text>,
        data -> Text,
        request_id -> Nullable<Text>,
        created_at -> Text,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        license_id -> Nullable<Text>,
        url -> Text,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Text>,
        event_types -> Text,
        enabled -> Bool,
        cursor -> BigInt,
        attempts -> Integer,
        failing_since -> Nullable<Text>,
        next_attempt_at -> Text,
        failed_at -> Nullable<Text>,
        last_error -> Nullable<Text>,
        lease_until -> Nullable<Text>,
        created_at -> Text,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> BigInt,
        endpoint_id -> Text,
        event_seq -> BigInt,
        event_id -> Text,
        event_type -> Text,
        attempt -> Integer,
        status_code -> Nullable<Integer>,
        latency_ms -> BigInt,
        error -> Nullable<Text>,
        manual -> Bool,
        created_at -> Text,
    }
}

diesel::table! {
    scim_requests (id) {
        id -> BigInt,
        license_id -> Text,
        method -> Text,
        path -> Text,
        status -> Integer,
        latency_us -> BigInt,
        request_id -> Nullable<Text>,
        created_at -> Text,
    }
}

diesel::table! {
    seat_history (id) {
        id -> BigInt,
        license_id -> Text,
        user_id -> Text,
        user_name -> Text,
        started_at -> Text,
        ended_at -> Nullable<Text>,
        start_reason -> Text,
        end_reason -> Nullable<Text>,
    }
}

diesel::table! {
    license_policies (license_id) {
        license_id -> Text,
        overflow -> Text,
        expand_cap -> Nullable<BigInt>,
        grace_minutes -> Integer,
        overflowing_since -> Nullable<Text>,
        updated_at -> Text,
    }
}

diesel::table! {
    seat_reservations (license_id, kind, target) {
        license_id -> Text,
        kind -> Text,
        target -> Text,
        seats -> BigInt,
        position -> Integer,
        created_at -> Text,
    }
}

diesel::table! {
    seat_expansions (id) {
        id -> BigInt,
        license_id -> Text,
        expanded_at -> Text,
        seats_from -> BigInt,
        seats_to -> BigInt,
        settled_at -> Nullable<Text>,
    }
}

diesel::joinable!(webhook_attempts -> webhook_endpoints (endpoint_id));
diesel::joinable!(scim_tokens -> licenses (license_id));
diesel::joinable!(license_admin_keys -> licenses (license_id));
diesel::joinable!(setup_links -> licenses (license_id));
diesel::joinable!(users -> licenses (license_id));
diesel::joinable!(groups -> licenses (license_id));
diesel::joinable!(group_members -> groups (group_id));
diesel::joinable!(group_members -> users (user_id));
diesel::joinable!(seats -> users (user_id));
diesel::joinable!(seats -> licenses (license_id));
diesel::joinable!(seat_history -> licenses (license_id));
diesel::joinable!(licensed_groups -> groups (group_id));

diesel::allow_tables_to_appear_in_same_query!(
    licenses,
    scim_tokens,
    users,
    groups,
    group_members,
    licensed_groups,
    seats,
    outbox,
    audit,
    license_sync,
    license_admin_keys,
    setup_links,
    feed_events,
    webhook_endpoints,
    webhook_attempts,
    scim_requests,
    seat_history,
    license_policies,
    seat_reservations,
    seat_expansions,
);

diesel::table! {
    license_sync (license_id) {
        license_id -> Text,
        last_applied_event_id -> BigInt,
        last_applied_at -> Text,
        applied_events -> BigInt,
    }
}
