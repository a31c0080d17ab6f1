//! Test harness for voicegate: a temp data directory, the server in-process on 127.0.0.1:0 with a
//! clock the test moves, the real binary as a child process, and the real peer tools the tests
//! compare against (Python's bcrypt), the Open Voice OS message bus and the whole Open Voice OS
//! stack, with a tap that records the bus's frames, Snapcast, a throwaway PostgreSQL cluster and
//! an nginx load balancer.

pub mod balancer;
mod binary;
mod browser;
mod bus_tap;
mod ovos;
mod ovos_stack;
pub mod postgres;
mod python;
mod server;
mod shared;
mod snapcast;
mod tied;

pub use balancer::Nginx;
pub use binary::{Binary, CliOutput, ServeProcess, free_port};
pub use browser::{Browser, BrowserOptions, artifacts_dir, callback_listener, serious_violations};
pub use bus_tap::{BusTap, TAP_WAIT, summary};
pub use ovos::{OvosBus, Responder, ResponderOptions, SkillState};
pub use ovos_stack::{OvosStack, STACK_MODULES, START_DEADLINE};
pub use postgres::Cluster;
pub use python::{python, python_bcrypt_check, python_bcrypt_hash, run_python};
pub use server::{BACKEND_VAR, TestServer, backend_database, on_postgres, test_config};
pub use shared::{Located, SHARED_VAR, locate, shared_file};
pub use snapcast::{PCM_BYTES_PER_SECOND, Snapclient, Snapserver, sine_pcm};
