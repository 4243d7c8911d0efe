% name = repository.name
% rebase('base', crumbs=[(name, None)], api_url=urls.api(urls.repo(name)))
<div class="page-head">
  <h1 class="page-title">{{name}}</h1>
  <a class="button" href="{{urls.runs(name)}}">All runs</a>
</div>
<p class="clone"><span class="muted">Clone</span> <code class="copy">git clone {{origin}}{{urls.clone(name)}}</code></p>

<h2 class="section-title">Branches</h2>
% if not refs.branches:
<p class="muted">No branches yet.</p>
% end
<ul class="reflist">
% for item in refs.branches:
  % include('_ref', item=item, name=name)
% end
</ul>

% if refs.tags:
<h2 class="section-title">Tags</h2>
<ul class="reflist">
% for item in refs.tags:
  % include('_ref', item=item, name=name)
% end
</ul>
% end

<h2 class="section-title">Recent runs</h2>
% if not recent:
<p class="muted">No runs yet. Push a commit with a <code>.lightci.yml</code> to start one.</p>
% end
% include('_runlist', rows=recent, repo_name=name)
% if recent:
<p class="more"><a href="{{urls.runs(name)}}">See all runs →</a></p>
% end
