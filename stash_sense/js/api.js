/*
 * Stash Sense UI: every request to Stash. GraphQL goes to `<base href>graphql`; the plugin's
 * operations (identify_gallery, identify_image, identify_scene, suggestions, apply, reject) go
 * through runPluginOperation. Failures become Errors with a `kind` (auth, network, http, plugin)
 * that explain.js turns into words.
 */
(function (S) {
  "use strict";
  if (!S) return;

  function StashError(message, kind, detail) {
    var e = new Error(message);
    e.kind = kind || "plugin";
    e.detail = detail || message;
    return e;
  }

  // The error a GraphQL answer or a non-JSON page (proxy error, 502 ...) stands for, or null.
  function answerError(r, body, text) {
    if (body && body.errors && body.errors.length) {
      var msg = body.errors
        .map(function (e) {
          return e.message;
        })
        .join("; ");
      return StashError(msg, r.status === 401 ? "auth" : "plugin");
    }
    if (!r.ok || !body) {
      var kind = r.status === 401 ? "auth" : r.status >= 502 && r.status <= 504 ? "network" : "http";
      return StashError("HTTP " + r.status + " " + (r.statusText || ""), kind, text.slice(0, 500));
    }
    return null;
  }

  function gql(query, variables) {
    return fetch(S.url("graphql"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ query: query, variables: variables || {} }),
    }).then(
      function (r) {
        return r.text().then(function (text) {
          var body = null;
          try {
            body = JSON.parse(text);
          } catch (_) {
            /* not JSON: a proxy error page, a 502 ... */
          }
          var err = answerError(r, body, text);
          if (err) throw err;
          return body.data;
        });
      },
      function (err) {
        throw StashError(String((err && err.message) || err), "network");
      }
    );
  }

  S.runOperation = function (args) {
    return gql("mutation StashSenseOp($id: ID!, $args: Map) { runPluginOperation(plugin_id: $id, args: $args) }", {
      id: S.PLUGIN_ID,
      args: args,
    }).then(function (data) {
      var out = data ? data.runPluginOperation : null;
      if (typeof out === "string") {
        try {
          out = JSON.parse(out);
        } catch (_) {
          throw StashError("The plugin answered with something that is not JSON.", "plugin", out.slice(0, 500));
        }
      }
      if (out && typeof out === "object" && out.error) throw StashError(String(out.error), "plugin");
      if (out === null || out === undefined) throw StashError("The plugin returned nothing.", "plugin");
      return out;
    });
  };

  S.gql = gql;

  // Start one of the manifest's tasks by name (Stash's job queue shows its progress); returns the job id.
  S.startTask = function (name, description) {
    return gql(
      "mutation StashSenseTask($id: ID!, $task: String, $desc: String) {" +
        " runPluginTask(plugin_id: $id, task_name: $task, description: $desc) }",
      { id: S.PLUGIN_ID, task: name, desc: description || "Stash Sense: " + name }
    ).then(function (data) {
      return data.runPluginTask;
    });
  };

  S.findTagId = function (name) {
    return gql("query StashSenseTag($n: String!) { findTags(tag_filter: { name: { value: $n, modifier: EQUALS } }) { tags { id } } }", {
      n: name,
    }).then(function (d) {
      var tags = (d && d.findTags && d.findTags.tags) || [];
      return tags.length ? tags[0].id : null;
    });
  };

  S.startDownloadTask = function () {
    return gql(
      "mutation StashSenseTask($id: ID!, $task: String, $desc: String) {" +
        " runPluginTask(plugin_id: $id, task_name: $task, description: $desc) }",
      { id: S.PLUGIN_ID, task: S.DOWNLOAD_TASK, desc: "Stash Sense: download the face database" }
    ).then(function (data) {
      return data.runPluginTask;
    });
  };

  S.findJob = function (jobId) {
    return gql("query StashSenseJob($id: ID!) { findJob(input: { id: $id }) { id status progress error startTime } }", {
      id: jobId,
    }).then(function (data) {
      return data.findJob;
    });
  };

  // How the task's last run ended ({status: ok|failed|running|unknown, error}): Stash ends a plugin
  // task FINISHED even when the plugin failed, so the job alone cannot say.
  S.taskOutcome = function (mode, since) {
    return S.runOperation({ mode: "task_outcome", task: mode, since: since || "" });
  };

  // Start a manifest task (by name) and follow its job until it ends; resolves with the plugin's
  // outcome of that run (Stash says FINISHED even when the plugin failed), rejects when it failed.
  // onProgress(fraction) is called while it runs.
  S.followTask = function (name, mode, onProgress) {
    return S.startTask(name).then(function (jobId) {
      var startTime = null;
      return new Promise(function (resolve, reject) {
        function ended(status, error) {
          if (status === "FAILED" || status === "CANCELLED") {
            reject(StashError("The task " + status.toLowerCase() + (error ? ": " + error : ""), "plugin"));
            return;
          }
          S.taskOutcome(mode, startTime).then(function (o) {
            if (o.status === "failed") reject(StashError(String(o.error || "the task failed"), "plugin"));
            else resolve(o);
          }, reject);
        }
        (function poll() {
          S.findJob(jobId).then(function (job) {
            if (job && job.startTime) startTime = job.startTime;
            if (!job || /FINISHED|FAILED|CANCELLED/.test(job.status)) ended(job ? job.status : "FINISHED", job && job.error);
            else {
              if (onProgress) onProgress(job.progress || 0);
              setTimeout(poll, 1000);
            }
          }, reject);
        })();
      });
    });
  };

  var FIND_ITEMS = {
    gallery: "query StashSenseTitles($ids: [ID!]) { findGalleries(ids: $ids, filter: {per_page: -1}) { galleries { id title image_count } } }",
    scene: "query StashSenseTitles($ids: [ID!]) { findScenes(ids: $ids, filter: {per_page: -1}) { scenes { id title } } }",
    image: "query StashSenseTitles($ids: [ID!]) { findImages(ids: $ids, filter: {per_page: -1}) { images { id title } } }",
  };

  // {"gallery:3": {id, title, image_count}, ...} for [{type, id}]; an item Stash cannot find
  // (deleted since it was analysed) is simply missing, and the caller shows its id.
  S.itemTitles = function (items) {
    var byType = {};
    items.forEach(function (i) {
      (byType[i.type] = byType[i.type] || []).push(String(i.id));
    });
    var out = {};
    return Promise.all(
      Object.keys(byType).map(function (type) {
        if (!FIND_ITEMS[type]) return null;
        return gql(FIND_ITEMS[type], { ids: byType[type] }).then(
          function (d) {
            var key = Object.keys(d)[0];
            var list = d[key][type === "gallery" ? "galleries" : type + "s"] || [];
            list.forEach(function (o) {
              out[type + ":" + o.id] = o;
            });
          },
          function () {
            /* a deleted item fails the whole find in Stash: the ids are shown instead */
          }
        );
      })
    ).then(function () {
      return out;
    });
  };

  // Performers whose name contains `text`, for the "This is…" search box.
  S.searchPerformers = function (text) {
    return gql(
      "query StashSensePerformers($f: FindFilterType) { findPerformers(filter: $f) { performers { id name disambiguation } } }",
      { f: { q: text, per_page: 8, sort: "name" } }
    ).then(function (d) {
      return (d && d.findPerformers && d.findPerformers.performers) || [];
    });
  };

  // Title (and image count) of the gallery/scene/image for the modal's heading; null when unknown.
  S.targetInfo = function (target) {
    var q =
      target.type === "gallery"
        ? "query StashSenseTarget($id: ID!) { findGallery(id: $id) { id title image_count } }"
        : target.type === "scene"
        ? "query StashSenseTarget($id: ID!) { findScene(id: $id) { id title } }"
        : "query StashSenseTarget($id: ID!) { findImage(id: $id) { id title } }";
    return gql(q, { id: target.id })
      .then(function (d) {
        return (d && (d.findGallery || d.findScene || d.findImage)) || null;
      })
      .catch(function () {
        return null;
      });
  };

  // Undo one journalled run, then let Stash's pages show the change.
  S.undoRun = function (runId) {
    return S.runOperation({ mode: "undo_run", run_id: runId }).then(function (out) {
      S.refreshStash();
      return out;
    });
  };

  // Let Stash's own pages (Apollo cache) show what we changed.
  S.refreshStash = function () {
    try {
      var svc = S.api.utils && S.api.utils.StashService;
      var client = svc && svc.getClient && svc.getClient();
      if (client && client.refetchQueries) client.refetchQueries({ include: "active" });
    } catch (e) {
      if (window.console) console.warn("[Stash Sense] could not refresh the page data", e);
    }
  };
})(window.__stashSenseModules);
