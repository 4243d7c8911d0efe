<article class="job" id="job-{{job.slug}}" data-job="{{job.slug}}">
  <header class="job-head">
    <span data-live="job-status">{{!pill(job.status)}}</span>
    <h2 class="job-name">
    % if link_title:
      <a href="{{urls.job(name, run.number, job.slug)}}">{{job.title}}</a>
    % else:
      {{job.title}}
    % end
    </h2>
    % if job.needs:
    <span class="needs">needs
      % for index, need in enumerate(job.needs):
      <a href="{{urls.run(name, run.number)}}#job-{{need}}">{{need}}</a>{{', ' if index < len(job.needs) - 1 else ''}}
      % end
    </span>
    % end
    % if job.attempt > 1:
    <span class="muted">attempt {{job.attempt}}</span>
    % end
    % if job.allow_failure:
    <span class="tag-label">may fail</span>
    % end
    <span class="job-duration" data-live="job-duration">{{duration_between(job.started, job.finished)}}</span>
  </header>
  <p class="reason" data-live="job-reason"{{!'' if job.reason else ' hidden'}}>{{job.reason or ''}}</p>
  % if job.steps:
  <ol class="steps">
  % for index, step in enumerate(job.steps):
    <li class="step" data-step="{{index}}">
      <span data-live="step-status">{{!pill(step.status)}}</span>
      <span class="step-main">
        <span class="step-name">{{step.name}}</span>
        % if step.command.strip() != step.name.strip():
        <code class="step-command">{{step.command}}</code>
        % end
      </span>
      <span class="step-meta">
        <span class="step-exit" data-live="step-exit">{{'' if step.exit_code is None else 'exit %d' % step.exit_code}}</span>
        <span class="step-duration" data-live="step-duration">{{duration(step.duration)}}</span>
      </span>
    </li>
  % end
  </ol>
  % end
  % if log is not None:
  % tail, skipped = log
  % html, offset = render_log(tail, finished=job.status not in ('queued', 'running'))
  <details class="log-box" open>
    <summary>Log <a class="raw-link" href="{{urls.raw_log(name, run.number, job.slug)}}">raw</a>{{(' · the first %s are left out' % size(skipped)) if skipped else ''}}</summary>
    <pre class="log" data-job="{{job.slug}}" data-offset="{{offset + skipped}}">{{!html}}</pre>
  </details>
  % elif link_title:
  <p class="log-link"><a href="{{urls.job(name, run.number, job.slug)}}">Show the log →</a></p>
  % end
</article>
