//! Slack Events API callbacks (`event_id` is the delivery's ID).

pub const ALL: &[(&str, &str)] = &[
    (
        "app_mention",
        r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","team_id":"T0001","api_app_id":"A0KRD7HC3","event":{"type":"app_mention","user":"U061F7AUR","text":"<@U0LAN0Z89> is it everything a river should be?","ts":"1762000000.000200","channel":"C0LAN2Q65","event_ts":"1762000000.000200"},"type":"event_callback","event_id":"Ev{id}","event_time":1762000000,"authorizations":[{"team_id":"T0001","user_id":"U0LAN0Z89","is_bot":true}]}"#,
    ),
    (
        "message",
        r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","team_id":"T0001","api_app_id":"A0KRD7HC3","event":{"type":"message","channel":"C2147483705","channel_type":"channel","user":"U2147483697","text":"Hello world","ts":"1762000000.000300"},"type":"event_callback","event_id":"Ev{id}","event_time":1762000000}"#,
    ),
    (
        "reaction_added",
        r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","team_id":"T0001","api_app_id":"A0KRD7HC3","event":{"type":"reaction_added","user":"U024BE7LH","reaction":"thumbsup","item_user":"U0G9QF9C6","item":{"type":"message","channel":"C0G9QF9GZ","ts":"1762000000.000400"},"event_ts":"1762000000.000500"},"type":"event_callback","event_id":"Ev{id}","event_time":1762000000}"#,
    ),
    (
        "team_join",
        r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","team_id":"T0001","api_app_id":"A0KRD7HC3","event":{"type":"team_join","user":{"id":"U{id}","name":"spengler","real_name":"Egon Spengler","tz":"America/New_York"},"event_ts":"1762000000.000600"},"type":"event_callback","event_id":"Ev{id}","event_time":1762000000}"#,
    ),
];
