//! GitHub events (the `X-GitHub-Event` header carries the type).

pub const ALL: &[(&str, &str)] = &[
    (
        "push",
        r#"{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"{id}0000000c","created":false,"deleted":false,"forced":false,"compare":"https://github.com/octo-org/hello-world/compare/6113728f27ae...{id}","commits":[{"id":"{id}0000000c","tree_id":"f9d2a07e9488b91af2641b26b9407fe22a451433","message":"Fix the frobnicator","timestamp":"2025-11-01T12:26:39Z","author":{"name":"Mona Octocat","email":"mona@github.com","username":"octocat"},"added":[],"removed":[],"modified":["README.md"]}],"head_commit":{"id":"{id}0000000c","message":"Fix the frobnicator"},"repository":{"id":1296269,"name":"hello-world","full_name":"octo-org/hello-world","private":false,"default_branch":"main"},"pusher":{"name":"octocat","email":"mona@github.com"},"sender":{"login":"octocat","id":583231,"type":"User"}}"#,
    ),
    (
        "pull_request",
        r#"{"action":"opened","number":1347,"pull_request":{"id":1762000001,"node_id":"PR_{id}","number":1347,"state":"open","title":"Amazing new feature","user":{"login":"octocat","id":583231},"body":"Please pull these awesome changes in!","head":{"ref":"new-topic","sha":"6dcb09b5b57875f334f61aebed695e2e4193db5e"},"base":{"ref":"main","sha":"6113728f27ae82c7b1a177c8d03f9e96e0adf246"},"draft":false,"merged":false,"html_url":"https://github.com/octo-org/hello-world/pull/1347"},"repository":{"id":1296269,"name":"hello-world","full_name":"octo-org/hello-world","private":false},"sender":{"login":"octocat","id":583231,"type":"User"}}"#,
    ),
    (
        "issues",
        r#"{"action":"opened","issue":{"id":1762000001,"node_id":"I_{id}","number":1347,"title":"Found a bug","state":"open","user":{"login":"octocat","id":583231},"labels":[{"name":"bug","color":"f29513"}],"body":"I'm having a problem with this.","html_url":"https://github.com/octo-org/hello-world/issues/1347"},"repository":{"id":1296269,"name":"hello-world","full_name":"octo-org/hello-world","private":false},"sender":{"login":"octocat","id":583231,"type":"User"}}"#,
    ),
    (
        "issue_comment",
        r#"{"action":"created","issue":{"id":1762000001,"number":1347,"title":"Found a bug","state":"open"},"comment":{"id":1762000002,"node_id":"IC_{id}","body":"Me too","user":{"login":"hubot","id":1},"html_url":"https://github.com/octo-org/hello-world/issues/1347#issuecomment-1"},"repository":{"id":1296269,"name":"hello-world","full_name":"octo-org/hello-world","private":false},"sender":{"login":"hubot","id":1,"type":"User"}}"#,
    ),
    (
        "release",
        r#"{"action":"published","release":{"id":1762000003,"node_id":"RE_{id}","tag_name":"v1.0.0","name":"v1.0.0","draft":false,"prerelease":false,"author":{"login":"octocat","id":583231},"html_url":"https://github.com/octo-org/hello-world/releases/tag/v1.0.0"},"repository":{"id":1296269,"name":"hello-world","full_name":"octo-org/hello-world","private":false},"sender":{"login":"octocat","id":583231,"type":"User"}}"#,
    ),
    (
        "ping",
        r#"{"zen":"Design for failure.","hook_id":1762000004,"hook":{"type":"Repository","id":1762000004,"name":"web","node_id":"HK_{id}","active":true,"events":["push","pull_request"],"config":{"content_type":"json","insecure_ssl":"0","url":"https://hooks.example.com/hooks/github"}},"repository":{"id":1296269,"full_name":"octo-org/hello-world"},"sender":{"login":"octocat","id":583231}}"#,
    ),
];
