% name = repository.name
% rebase('base', crumbs=[(name, urls.repo(name)), ('runs', None)], api_url=urls.api(urls.runs(name, page=result.page, **filters)))
<div class="page-head">
  <h1 class="page-title">Runs</h1>
  % if result.total is not None:
  <span class="muted">{{result.total}} in all</span>
  % end
</div>
<form class="filters" method="get" action="{{urls.runs(name)}}">
  <label>Branch <input type="text" name="branch" value="{{filters['branch'] or ''}}" placeholder="any"></label>
  <label>Status
    <select name="status">
      <option value="">any</option>
      % for status in statuses:
      <option value="{{status}}"{{!' selected' if filters['status'] == status else ''}}>{{status}}</option>
      % end
    </select>
  </label>
  <button type="submit">Filter</button>
  % if filters['branch'] or filters['status']:
  <a href="{{urls.runs(name)}}">Clear</a>
  % end
</form>
% if not rows:
<section class="empty-state"><p>No runs match.</p></section>
% end
% include('_runlist', rows=rows, repo_name=name)
<nav class="pager" aria-label="Pages">
  % if previous_url:
  <a class="button" href="{{previous_url}}" rel="prev">← Newer</a>
  % else:
  <span></span>
  % end
  <span class="muted">Page {{result.page}}</span>
  % if next_url:
  <a class="button" href="{{next_url}}" rel="next">Older →</a>
  % else:
  <span></span>
  % end
</nav>
