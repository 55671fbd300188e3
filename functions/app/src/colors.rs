//! Blue-green colours: the two a service's Deployments take, and which services take them.

use strata_core::Environment;
use strata_core::spec::{ServiceSpec, Strategy};

pub(crate) const COLORS: [&str; 2] = ["blue", "green"];

pub(crate) fn other_color(color: &str) -> &'static str {
    if color == COLORS[0] {
        COLORS[1]
    } else {
        COLORS[0]
    }
}

pub(crate) fn blue_green(env: &Environment) -> impl Iterator<Item = &ServiceSpec> {
    env.spec
        .app
        .services
        .iter()
        .filter(|s| s.strategy == Strategy::BlueGreen)
}
