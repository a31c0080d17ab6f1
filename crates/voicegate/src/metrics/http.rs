//! The request instruments the edge layer records into: requests by method, route and status,
//! and the time to the response head by method and route. The route is the matched route's
//! template (`/v1/skills/{skill_id}`), never the path asked for, and every request that matched
//! no route counts under one label, so a client cannot make series without bound. A label set
//! is built from shared pointers (the route template the router holds), so recording allocates
//! only the first time a series appears.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Method, StatusCode};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// The route label of requests that matched no route (404s, and whatever else a scan tries).
pub const UNMATCHED: &str = "unmatched";

/// Upper bounds of the request-time buckets, in seconds.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A request's method, folded to the methods the API serves and `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodLabel {
    /// GET.
    Get,
    /// HEAD.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// PATCH.
    Patch,
    /// OPTIONS.
    Options,
    /// Any other method.
    Other,
}

impl MethodLabel {
    /// The label of `method`.
    pub fn of(method: &Method) -> Self {
        match *method {
            Method::GET => Self::Get,
            Method::HEAD => Self::Head,
            Method::POST => Self::Post,
            Method::PUT => Self::Put,
            Method::DELETE => Self::Delete,
            Method::PATCH => Self::Patch,
            Method::OPTIONS => Self::Options,
            _ => Self::Other,
        }
    }

    /// The label's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Patch => "PATCH",
            Self::Options => "OPTIONS",
            Self::Other => "other",
        }
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// The route a request matched (its template), or none.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub Option<MatchedPath>);

impl RouteLabel {
    /// The label's value: the template, or [`UNMATCHED`].
    pub fn as_str(&self) -> &str {
        self.0.as_ref().map_or(UNMATCHED, MatchedPath::as_str)
    }
}

impl PartialEq for RouteLabel {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteLabel {}

impl Hash for RouteLabel {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// The labels of a request count.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The method.
    pub method: MethodLabel,
    /// The route template.
    pub route: RouteLabel,
    /// The answer's status code.
    pub status: u16,
}

/// The labels of a request-time histogram.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    /// The method.
    pub method: MethodLabel,
    /// The route template.
    pub route: RouteLabel,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The request instruments. Cheap to clone; clones record into the same series.
#[derive(Debug, Clone)]
pub struct HttpMeasures {
    /// Requests answered, by method, route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Seconds to the response head (a streamed body is not waited for), by method and route.
    pub durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl Default for HttpMeasures {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
        }
    }
}

impl HttpMeasures {
    /// Records a request of `method` that matched `route` (or none) and was answered `status`
    /// after `took`.
    pub fn observe(
        &self,
        method: MethodLabel,
        route: Option<MatchedPath>,
        status: StatusCode,
        took: Duration,
    ) {
        let route = RouteLabel(route);
        let labels = RouteLabels { method, route };
        self.durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        let RouteLabels { method, route } = labels;
        let labels = RequestLabels {
            method,
            route,
            status: status.as_u16(),
        };
        self.requests.get_or_create(&labels).inc();
    }
}
