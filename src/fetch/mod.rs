//! Downloads with a content-addressed cache.
