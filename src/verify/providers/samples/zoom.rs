//! Zoom webhook events.

pub const ALL: &[(&str, &str)] = &[
    (
        "meeting.started",
        r#"{"event":"meeting.started","event_ts":1762000000000,"payload":{"account_id":"AAAAAABBBB","object":{"id":"85746065432","uuid":"{id}==","host_id":"z8yCxjabcdEFGHfp8uQ","topic":"Weekly sync","type":2,"start_time":"2025-11-01T12:26:40Z","timezone":"America/Los_Angeles","duration":60}}}"#,
    ),
    (
        "meeting.ended",
        r#"{"event":"meeting.ended","event_ts":1762003600000,"payload":{"account_id":"AAAAAABBBB","object":{"id":"85746065432","uuid":"{id}==","host_id":"z8yCxjabcdEFGHfp8uQ","topic":"Weekly sync","type":2,"start_time":"2025-11-01T12:26:40Z","end_time":"2025-11-01T13:26:40Z","duration":60}}}"#,
    ),
    (
        "recording.completed",
        r#"{"event":"recording.completed","event_ts":1762004000000,"payload":{"account_id":"AAAAAABBBB","object":{"id":"85746065432","uuid":"{id}==","host_email":"jchill@example.com","topic":"Weekly sync","recording_count":1,"total_size":529758,"recording_files":[{"id":"ed6c2f27-2ae7-42f4-b3d0-835b493e4fa8","file_type":"MP4","file_size":529758,"recording_type":"shared_screen_with_speaker_view","status":"completed"}]}}}"#,
    ),
    (
        "meeting.participant_joined",
        r#"{"event":"meeting.participant_joined","event_ts":1762000100000,"payload":{"account_id":"AAAAAABBBB","object":{"id":"85746065432","uuid":"{id}==","host_id":"z8yCxjabcdEFGHfp8uQ","topic":"Weekly sync","participant":{"user_id":"16778240","user_name":"Jill Chill","email":"jchill@example.com","join_time":"2025-11-01T12:28:20Z"}}}}"#,
    ),
];
