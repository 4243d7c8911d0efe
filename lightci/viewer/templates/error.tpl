% rebase('base', crumbs=crumbs)
<section class="empty-state">
  <p class="big-status">{{status}}</p>
  <h1>{{heading}}</h1>
  <p>{{message}}</p>
  <p><a href="{{urls.home()}}">Back to the repositories</a></p>
</section>
