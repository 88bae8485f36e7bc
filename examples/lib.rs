//! Runnable examples for reqrep: `cargo run -p reqrep-examples --example <name>`.
//!
//! - `seed_agents`: the classic requester and replier agents, ported to
//!   reqrep's agent runtime and `ReqRep` plugin, each in its own child
//!   process; exits non-zero when an agent fails.
//! - `brokered_echo`: a broker, 4 echo workers and a client.
//! - `async_pipelined`: an async client with many requests in flight.
//!
//! The agent runtime's own example lives with its crate:
//! `cargo run -p reqrep-agents --example runtime_supervisor`.

#[cfg(test)]
mod tests {
    /// The names of the `[[example]]` targets in this crate's manifest.
    fn examples() -> Vec<&'static str> {
        include_str!("Cargo.toml")
            .split("[[example]]")
            .skip(1)
            .filter_map(|entry| {
                let line = entry.lines().find(|l| l.trim_start().starts_with("name"))?;
                line.split('"').nth(1)
            })
            .collect()
    }

    #[test]
    fn the_crate_doc_and_the_readme_list_every_example() {
        let found = examples();
        assert_eq!(found.len(), 3, "{found:?}");
        let doc = include_str!("lib.rs");
        let readme = include_str!("../README.md");
        for name in found {
            assert!(doc.contains(&format!("`{name}`")), "lib.rs omits {name}");
            assert!(readme.contains(&format!("`{name}`")), "README omits {name}");
        }
        assert!(readme.contains("runtime_supervisor"));
    }

    #[test]
    fn every_no_in_the_porting_table_gives_its_reason() {
        let porting = include_str!("../docs/PORTING.md");
        let table: Vec<Vec<&str>> = porting
            .split("## 1. Feature table")
            .nth(1)
            .expect("the feature table")
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .map(|row| row.split(" | ").map(str::trim).collect())
            .collect();
        assert!(table.len() > 30, "{} rows", table.len());
        let noes: Vec<_> = table
            .iter()
            .filter(|cells| cells.get(1).is_some_and(|c| c.starts_with("no")))
            .collect();
        assert!(!noes.is_empty());
        for cells in noes {
            let reason = cells.get(2).map_or("", |c| c.trim_end_matches('|').trim());
            assert!(reason.len() > 40, "no reason given: {cells:?}");
        }
    }
}
