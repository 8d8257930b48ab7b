/* "Allocate a tutor": once a subject is chosen, the tutor list offers only the tutors who teach
 * it, best fit first (most free hours a week, then fewest active allocations), as the desk's
 * matching view reports them. Without this script the form offers every tutor with their
 * subjects, and the allocation service refuses a tutor who does not teach the subject. */
(function () {
  "use strict";

  function start() {
    const tutor = document.getElementById("id_tutor");
    const subject = document.getElementById("id_subject");
    const student = document.getElementById("id_student");
    if (!tutor || !subject || !tutor.dataset.matchesUrl) return;

    const status = document.createElement("p");
    status.id = "tutor-matches-status";
    status.className = "help";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    (tutor.closest(".flex-container") || tutor).after(status);
    tutor.setAttribute("aria-describedby", status.id);

    let asked = 0;

    async function refresh() {
      if (!subject.value) return;
      const ask = ++asked;
      const params = new URLSearchParams({ subject: subject.value });
      if (student && student.value) params.set("student", student.value);
      status.textContent = "Finding tutors…";
      let body;
      try {
        const response = await fetch(`${tutor.dataset.matchesUrl}?${params}`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (!response.ok) throw new Error(String(response.status));
        body = await response.json();
      } catch (err) {
        if (ask === asked) status.textContent = "Could not load the matching tutors; every tutor is offered.";
        return;
      }
      if (ask !== asked) return; // a later choice already asked again
      const chosen = tutor.value;
      const options = [new Option("---------", "")];
      for (const match of body.tutors) options.push(new Option(match.label, match.id, false, match.id === chosen));
      tutor.replaceChildren(...options);
      const n = body.tutors.length;
      status.textContent = n
        ? `${n} tutor${n === 1 ? "" : "s"} teach${n === 1 ? "es" : ""} ${body.subject}, best fit first.`
        : `No tutor is free to teach ${body.subject} to this student.`;
    }

    subject.addEventListener("change", refresh);
    if (student) {
      student.addEventListener("change", refresh);
      // The student field is the admin's autocomplete (select2), which reports through jQuery.
      if (window.django && window.django.jQuery) window.django.jQuery(student).on("change", refresh);
    }
    refresh();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
