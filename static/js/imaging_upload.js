// DICOM upload: send the files with XMLHttpRequest (for upload progress), then poll the
// upload's status until it is imported and its pictures are rendered; show the report.
(() => {
  const $ = (selector) => document.querySelector(selector);
  const form = $("#upload-form");
  const bar = $("#progress");
  const label = $("#progress-label");
  const errors = $("#upload-errors");

  function csrfToken() {
    const field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function setProgress(fraction, text) {
    bar.value = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
    label.textContent = text;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function showReport(upload) {
    $("#upload-result").hidden = false;
    $("#result-counts").textContent =
      `${upload.accepted} accepted · ${upload.duplicates} already stored · ${upload.rejected} rejected` +
      (upload.error ? ` · ${upload.error}` : "");
    const list = $("#result-series");
    list.replaceChildren();
    for (const series of upload.series) {
      const li = document.createElement("li");
      const link = document.createElement("a");
      link.href = series.viewer_url;
      link.textContent = `${series.description || "Series"} (${series.modality}, ${series.instances} images${series.mrcp ? ", MRCP" : ""})`;
      link.dataset.testid = "series-link";
      li.append(link, document.createTextNode(series.render_state === "failed" ? " · pictures failed" : ""));
      list.append(li);
    }
    const identity = $("#result-identity");
    const open = (upload.identity_warnings || []).filter((w) => w.open);
    identity.hidden = open.length === 0;
    identity.replaceChildren();
    if (open.length) {
      const strong = document.createElement("strong");
      strong.textContent = "Check the patient's identity: ";
      const link = document.createElement("a");
      link.href = form.dataset.donorUrl + "#mrcp-section";
      link.textContent = "a radiologist confirms or detaches it on the donor's page";
      identity.append(strong, document.createTextNode(open.map((w) => w.warning.replaceAll("\n", "; ")).join("; ") + " — "), link);
    }
    // Problems first; the accepted files fold away.
    const problems = $("#result-problems tbody");
    const accepted = $("#result-accepted");
    problems.replaceChildren();
    accepted.replaceChildren();
    for (const file of upload.files) {
      const row = document.createElement("tr");
      const notes = [file.reason, ...(file.warnings || [])].filter(Boolean).join("; ");
      row.append(cell(file.name), cell(file.outcome, `state outcome-${file.outcome}`), cell(notes));
      (file.outcome === "accepted" && !notes ? accepted : problems).append(row);
    }
    $("#result-problems").hidden = problems.children.length === 0;
    $("#result-accepted-box").hidden = accepted.children.length === 0;
    $("#result-accepted-summary").textContent = `${accepted.children.length} file(s) accepted without remarks`;
  }

  // The list of uploads as the server now has it, with the one just finished.
  async function refreshUploads() {
    const table = $("#uploads");
    if (!table) return;
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.querySelector("#uploads tbody");
      if (fresh) table.tBodies[0].replaceWith(document.importNode(fresh, true));
    } catch (_) {
      /* the list stays as it was; the report above is complete */
    }
  }

  async function poll(url) {
    for (;;) {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) {
        errors.textContent = `Could not read the upload's status (${response.status}).`;
        return;
      }
      const upload = await response.json();
      const expected = Math.max(upload.expected_files, 1);
      if (upload.state === "received") setProgress(0, "Waiting for the importer…");
      else if (upload.state === "processing") setProgress(upload.processed / expected, `Importing: ${upload.processed} of ${upload.expected_files} files read`);
      else if (!upload.ready) setProgress(1, "Imported; rendering the MIP…");
      if (upload.ready) {
        setProgress(1, upload.state === "failed" ? `Failed: ${upload.error || "nothing was imported"}` : "Done");
        showReport(upload);
        await refreshUploads();
        label.dataset.done = "1";
        $("#upload-button").disabled = false;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const files = $("#files").files;
    if (!files.length) return;
    errors.textContent = "";
    $("#upload-result").hidden = true;
    $("#progress-box").hidden = false;
    delete label.dataset.done;
    $("#upload-button").disabled = true;
    const data = new FormData();
    data.append("donor", form.dataset.donor);
    for (const file of files) data.append("files", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", form.dataset.api);
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) setProgress(e.loaded / e.total, `Sending: ${Math.round((100 * e.loaded) / e.total)}%`);
    });
    request.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (_) { /* not JSON */ }
      if (request.status !== 202) {
        errors.textContent = body.error ? body.error.message : `Upload refused (${request.status}).`;
        $("#progress-box").hidden = true;
        $("#upload-button").disabled = false;
        return;
      }
      setProgress(0, "Queued for import…");
      poll(body.status_url);
    });
    request.addEventListener("error", () => {
      errors.textContent = "The upload was interrupted; try again.";
      $("#upload-button").disabled = false;
    });
    request.send(data);
  });
})();
