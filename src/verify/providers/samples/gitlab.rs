//! GitLab webhooks, by `object_kind` (the `X-Gitlab-Event` header names the hook).

pub const ALL: &[(&str, &str)] = &[
    (
        "push",
        r#"{"object_kind":"push","event_name":"push","before":"95790bf891e76fee5e1747ab589903a6a1f80f22","after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","ref":"refs/heads/main","checkout_sha":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","user_id":4,"user_name":"John Smith","user_username":"jsmith","project_id":15,"project":{"id":15,"name":"Diaspora","path_with_namespace":"mike/diaspora","default_branch":"main","web_url":"https://gitlab.example.com/mike/diaspora"},"commits":[{"id":"{id}","message":"Update Catalan translation to e38cb41.","timestamp":"2025-11-01T12:26:39+00:00","author":{"name":"Jordi Mallach","email":"jordi@softcatala.org"},"added":["CHANGELOG"],"modified":["app/controller/application.rb"],"removed":[]}],"total_commits_count":1}"#,
    ),
    (
        "merge_request",
        r#"{"object_kind":"merge_request","event_type":"merge_request","user":{"id":1,"name":"Administrator","username":"root"},"project":{"id":1,"name":"Gitlab Test","path_with_namespace":"gitlabhq/gitlab-test","web_url":"https://gitlab.example.com/gitlabhq/gitlab-test"},"object_attributes":{"id":99,"iid":1,"title":"MS-Viewport","description":"{id}","state":"opened","action":"open","source_branch":"ms-viewport","target_branch":"main","url":"https://gitlab.example.com/gitlabhq/gitlab-test/-/merge_requests/1"}}"#,
    ),
    (
        "issue",
        r#"{"object_kind":"issue","event_type":"issue","user":{"id":1,"name":"Administrator","username":"root"},"project":{"id":1,"name":"Gitlab Test","path_with_namespace":"gitlabhq/gitlab-test","web_url":"https://gitlab.example.com/gitlabhq/gitlab-test"},"object_attributes":{"id":301,"iid":23,"title":"New API: create/update/delete file","description":"{id}","state":"opened","action":"open","url":"https://gitlab.example.com/gitlabhq/gitlab-test/-/issues/23"}}"#,
    ),
    (
        "pipeline",
        r#"{"object_kind":"pipeline","object_attributes":{"id":31,"iid":3,"ref":"main","sha":"bcbb5ec396a2c0f828686f14fac9b80b780504f2","status":"success","detailed_status":"passed","duration":63,"created_at":"2025-11-01 12:25:00 UTC","finished_at":"2025-11-01 12:26:39 UTC"},"user":{"id":1,"name":"Administrator","username":"root"},"project":{"id":1,"name":"Gitlab Test","path_with_namespace":"gitlabhq/gitlab-test"},"commit":{"id":"bcbb5ec396a2c0f828686f14fac9b80b780504f2","message":"{id}"}}"#,
    ),
];
