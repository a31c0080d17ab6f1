//! The web console at `/`: server-rendered pages for the household (speakers, voices,
//! assistants, the assistant's bus, the account) with a little plain JavaScript of our own that
//! calls the API with the page's session. This file only names the parts.

pub mod assets;
pub mod layout;
pub mod pages;
pub mod routes;
