//! The entry points of an endpoint group, for every platform, from one line in its crate:
//! `tui_shared::entry_points!("auth", crate::app);`. Each expands only under its platform's
//! cargo feature, evaluated in the group's crate.

/// A worker's `fetch` handler and a Spin component's HTTP handler, both serving `$app`, and a
/// worker's `scheduled` handler, which prunes expired rows when a cron trigger is configured.
/// With `tick = path` (an `async fn(AppState)`), the group has scheduled work of its own: the
/// worker's cron trigger runs it after pruning, and its queue consumer runs it for each batch.
#[macro_export]
macro_rules! entry_points {
    ($group:literal, $app:path, tick = $tick:path) => {
        $crate::entry_points!(@serve $group, $app, $tick);

        #[cfg(feature = "cloudflare")]
        #[::worker::event(queue)]
        async fn queue(
            batch: ::worker::MessageBatch<::serde_json::Value>,
            env: ::worker::Env,
            _: ::worker::Context,
        ) -> ::worker::Result<()> {
            $crate::adapters::cloudflare::consume($group, env, batch, $tick).await;
            Ok(())
        }
    };
    ($group:literal, $app:path) => {
        $crate::entry_points!(@serve $group, $app, |_| async {});
    };
    // What every group has: serving requests, and the cron trigger's run with `$tick` after it.
    (@serve $group:literal, $app:path, $tick:expr) => {
        #[cfg(feature = "cloudflare")]
        #[::worker::event(fetch)]
        async fn fetch(
            request: ::worker::worker_sys::web_sys::Request,
            env: ::worker::Env,
            context: ::worker::Context,
        ) -> ::worker::Result<::worker::worker_sys::web_sys::Response> {
            $crate::adapters::cloudflare::fetch($group, $app, request, env, context).await
        }

        #[cfg(feature = "cloudflare")]
        #[::worker::event(scheduled)]
        async fn scheduled(_: ::worker::ScheduledEvent, env: ::worker::Env, _: ::worker::ScheduleContext) {
            $crate::adapters::cloudflare::scheduled($group, env, $tick).await
        }

        $crate::spin_entry_point!($group, $app);
    };
}

/// A Spin component's HTTP handler serving `$app` (a path that resolves from any module).
#[macro_export]
macro_rules! spin_entry_point {
    ($group:literal, $app:path) => {
        #[cfg(feature = "spin")]
        #[expect(unsafe_code, reason = "spin's http_component macro exports the handler through FFI glue")]
        mod spin_entry {
            #[::spin_sdk::http_component]
            async fn handle(request: ::axum::http::Request<::axum::body::Bytes>, out: ::spin_sdk::http::ResponseOutparam) {
                $crate::adapters::spin::serve($group, $app, request, out).await
            }
        }
    };
}
