//! The dependency graph between registered agents: resolution of names to
//! indices, a start order, and cycle detection.

use std::collections::HashMap;

use super::OrchestratorError;

/// Agents' dependencies resolved to indices.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    /// `deps[i]`: the agents `i` depends on.
    pub(crate) deps: Vec<Vec<usize>>,
    /// `dependents[i]`: the agents that depend on `i`.
    pub(crate) dependents: Vec<Vec<usize>>,
    /// Every agent after its dependencies; registration order among agents
    /// free to go together.
    pub(crate) order: Vec<usize>,
}

impl Graph {
    /// Resolves `depends_on[i]` (names) for the agents `names[i]`.
    ///
    /// # Errors
    /// [`OrchestratorError::UnknownDependency`] for a name nobody registered,
    /// [`OrchestratorError::DependencyCycle`] when the dependencies loop.
    pub(crate) fn new(names: &[&str], depends_on: &[&[String]]) -> Result<Self, OrchestratorError> {
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut deps = vec![Vec::new(); names.len()];
        let mut dependents = vec![Vec::new(); names.len()];
        for (agent, wanted) in depends_on.iter().enumerate() {
            for dependency in wanted.iter() {
                let Some(&dep) = index.get(dependency.as_str()) else {
                    return Err(OrchestratorError::UnknownDependency {
                        agent: names[agent].to_owned(),
                        dependency: dependency.clone(),
                    });
                };
                if !deps[agent].contains(&dep) {
                    deps[agent].push(dep);
                    dependents[dep].push(agent);
                }
            }
        }
        let order = topological(&deps).ok_or_else(|| {
            OrchestratorError::DependencyCycle(
                find_cycle(&deps)
                    .into_iter()
                    .map(|i| names[i].to_owned())
                    .collect(),
            )
        })?;
        Ok(Self {
            deps,
            dependents,
            order,
        })
    }
}

/// Kahn's algorithm, always taking the lowest ready index; `None` on a cycle.
fn topological(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    let mut missing: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut placed = vec![false; deps.len()];
    let mut order = Vec::with_capacity(deps.len());
    while order.len() < deps.len() {
        let next = (0..deps.len()).find(|&i| !placed[i] && missing[i] == 0)?;
        placed[next] = true;
        order.push(next);
        for (i, wanted) in deps.iter().enumerate() {
            if wanted.contains(&next) {
                missing[i] -= 1;
            }
        }
    }
    Some(order)
}

/// A dependency cycle as a path that ends where it starts; empty when there
/// is none.
fn find_cycle(deps: &[Vec<usize>]) -> Vec<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(node: usize, deps: &[Vec<usize>], marks: &mut [Mark], path: &mut Vec<usize>) -> bool {
        marks[node] = Mark::OnPath;
        path.push(node);
        for &dep in &deps[node] {
            let mark = marks[dep];
            if mark == Mark::OnPath {
                let from = path.iter().position(|&n| n == dep).unwrap_or(0);
                path.drain(..from);
                path.push(dep);
                return true;
            }
            if mark == Mark::New && visit(dep, deps, marks, path) {
                return true;
            }
        }
        marks[node] = Mark::Done;
        path.pop();
        false
    }
    let mut marks = vec![Mark::New; deps.len()];
    for start in 0..deps.len() {
        let mut path = Vec::new();
        if marks[start] == Mark::New && visit(start, deps, &mut marks, &mut path) {
            return path;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(spec: &[(&str, &[&str])]) -> Result<Graph, OrchestratorError> {
        let names: Vec<&str> = spec.iter().map(|(n, _)| *n).collect();
        let deps: Vec<Vec<String>> = spec
            .iter()
            .map(|(_, d)| d.iter().map(|s| (*s).to_owned()).collect())
            .collect();
        let deps: Vec<&[String]> = deps.iter().map(Vec::as_slice).collect();
        Graph::new(&names, &deps)
    }

    #[test]
    fn dependencies_come_first() {
        let g = graph(&[("web", &["db", "cache"]), ("db", &[]), ("cache", &["db"])]).unwrap();
        assert_eq!(g.order, vec![1, 2, 0]);
        assert_eq!(g.deps[0], vec![1, 2]);
        assert_eq!(g.dependents[1], vec![0, 2]);
    }

    #[test]
    fn independent_agents_keep_registration_order() {
        let g = graph(&[("a", &[]), ("b", &[]), ("c", &[])]).unwrap();
        assert_eq!(g.order, vec![0, 1, 2]);
    }

    #[test]
    fn unknown_dependencies_are_rejected() {
        let err = graph(&[("a", &["ghost"])]).unwrap_err();
        assert!(matches!(
            err,
            OrchestratorError::UnknownDependency { ref agent, ref dependency }
                if agent == "a" && dependency == "ghost"
        ));
    }

    #[test]
    fn cycles_are_rejected_with_their_path() {
        let err = graph(&[("free", &[]), ("a", &["b"]), ("b", &["c"]), ("c", &["a"])]).unwrap_err();
        let OrchestratorError::DependencyCycle(path) = err else {
            panic!("expected a cycle, got {err}");
        };
        assert_eq!(path, ["a", "b", "c", "a"]);
        let err = graph(&[("self", &["self"])]).unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: self -> self");
    }
}
