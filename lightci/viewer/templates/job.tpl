% name = repository.name
% live = job.status in ('queued', 'running') and not run.is_finished
% rebase('base', crumbs=[(name, urls.repo(name)), ('runs', urls.runs(name)), ('#%d' % run.number, urls.run(name, run.number)), (job.title, None)], api_url=urls.api(urls.job(name, run.number, job.slug)), live_url=urls.events(name, run.number) if live else None)
<div class="run-context">
  <span data-live="run-status">{{!pill(run.status)}}</span>
  <a href="{{urls.run(name, run.number)}}">Run #{{run.number}}</a>
  <span class="muted">· {{branch}} · <a href="{{urls.commit(name, run.commit)}}"><code>{{run.commit[:7]}}</code></a> · {{!when(run.created)}}</span>
</div>
% include('_job', job=job, name=name, run=run, log=None, link_title=False)
% html, offset = render_log(log, finished=not live)
<section class="log-page">
  <div class="log-toolbar">
    <span class="muted">{{size(log_size)}}</span>
    <a class="button" href="{{urls.raw_log(name, run.number, job.slug)}}">Raw log</a>
  </div>
  % if log_skipped:
  <p class="notice">The first {{size(log_skipped)}} are not shown here; the raw log has all of it.</p>
  % end
  <pre class="log log-full" data-job="{{job.slug}}" data-offset="{{offset + log_skipped}}">{{!html}}</pre>
  % if not log and not live:
  <p class="muted">This job wrote no output.</p>
  % end
</section>
