<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · lightci</title>
<link rel="stylesheet" href="{{urls.static('style.css')}}">
<link rel="icon" href="{{urls.static('favicon.svg')}}" type="image/svg+xml">
<script src="{{urls.static('live.js')}}" defer></script>
</head>
<body{{!(' data-events="%s"' % html_escape(live_url)) if get('live_url') else ''}}>
<header class="top">
  <a class="brand" href="{{urls.home()}}"><span class="logo" aria-hidden="true"></span>lightci</a>
  <nav class="crumbs" aria-label="Breadcrumbs">
  % for label, href in crumbs:
    <span class="sep" aria-hidden="true">/</span>
    % if href:
    <a href="{{href}}">{{label}}</a>
    % else:
    <span class="here">{{label}}</span>
    % end
  % end
  </nav>
</header>
<main>
{{!base}}
</main>
<footer class="foot">lightci · read-only viewer · <a href="{{get('api_url') or urls.api(urls.home())}}">JSON</a></footer>
</body>
</html>
