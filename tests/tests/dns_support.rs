//! What the DNS tests (dns_follow, dns_scale) share: a local project whose `[dns]` name lives at
//! dm-providers' fake DigitalOcean API on 127.0.0.1, and dm run there with the account's token
//! given to the dm process only (never set in this shared test process).

use dm::testing::LocalProject;
use dm_tests::{Dm, Run};

use crate::fake::{Api, Fake, FakeRecord};

/// A local project and the fake DNS API its `[dns]` name lives at. The fake runs in this process,
/// on a runtime of its own, while dm runs as a subprocess.
pub struct FakeDns {
    pub fake: Fake,
    _runtime: tokio::runtime::Runtime,
    pub project: LocalProject,
    token: &'static str,
}

impl FakeDns {
    /// A new project, and the fake accepting `token` with zone `example.com` holding `records`.
    pub fn start(token: &'static str, records: Vec<FakeRecord>) -> FakeDns {
        let project =
            LocalProject::new().unwrap_or_else(|e| panic!("cannot create a project: {e}"));
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let fake = runtime.block_on(Fake::start(Api::DigitalOcean, token));
        fake.world().domains.insert("example.com".into(), records);
        FakeDns {
            fake,
            _runtime: runtime,
            project,
            token,
        }
    }

    /// The inventory's `[dns]` table: the name `www.example.com`, at the fake.
    pub fn dns_table(&self) -> String {
        format!(
            "[dns]\nprovider = \"digitalocean\"\ndomain = \"example.com\"\nname = \"www\"\n\
             api_url = \"{}\"\n",
            self.fake.base_url()
        )
    }

    /// Runs dm in the project with the account's token; asserts that it succeeded.
    pub fn dm_ok(&self, args: &[&str]) -> Run {
        let run = Dm::in_dir(self.project.dir())
            .env("DIGITALOCEAN_TOKEN", self.token)
            .args(args)
            .run();
        run.assert_success();
        run
    }
}

/// A record of the fake's zone (TTL 1800).
pub fn record(id: u64, kind: &str, name: &str, data: &str) -> FakeRecord {
    FakeRecord {
        id,
        kind: kind.into(),
        name: name.into(),
        data: data.into(),
        ttl: 1800,
    }
}
